-- The event side of the KPIs (SPEC §6). An exit that closed no session is an orphan exit.
-- Distinct persons and cameras by hashing both groupings in one scan, not by sorting.
WITH grouped AS (
    SELECT GROUPING(person_id) AS by_camera,
           count(*) AS events,
           count(*) FILTER (WHERE is_exit AND session_id IS NULL) AS orphan_exits
    FROM camera_events
    WHERE {events_where}
    GROUP BY GROUPING SETS ((person_id), (camera_id))
)
SELECT coalesce(sum(events) FILTER (WHERE by_camera = 0), 0)::bigint AS total_events,
       count(*) FILTER (WHERE by_camera = 0) AS unique_visitors,
       count(*) FILTER (WHERE by_camera = 1) AS active_cameras,
       coalesce(sum(orphan_exits) FILTER (WHERE by_camera = 0), 0)::bigint AS orphan_exits
FROM grouped
