-- The event side of the KPIs (SPEC §6). An exit that closed no session is an orphan exit.
SELECT count(*) AS total_events,
       count(DISTINCT person_id COLLATE "C") AS unique_visitors,
       count(DISTINCT camera_id COLLATE "C") AS active_cameras,
       count(*) FILTER (WHERE is_exit AND session_id IS NULL) AS orphan_exits
FROM camera_events
WHERE {events_where}
