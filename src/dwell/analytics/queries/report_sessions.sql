-- The session side of the whole report (SPEC §6, §8, §12) from one scan of the sessions:
-- per hour and per day of entry, per camera, and over all (g = 7), each with its session
-- counts and the dwell statistics of its complete sessions.
WITH ses AS (
    SELECT {hour_key} AS hour_k, {day_key} AS day_k, camera_id COLLATE "C" AS camera,
           status, dwell_s
    FROM person_sessions
    WHERE {sessions_where}
)
SELECT GROUPING(hour_k, day_k, camera) AS g,
       CASE WHEN GROUPING(hour_k) = 0 THEN {hour_start}
            WHEN GROUPING(day_k) = 0 THEN {day_start} END AS bucket,
       camera,
       count(*) AS sessions,
       count(*) FILTER (WHERE status = 'missing_exit') AS missing_exit,
       count(*) FILTER (WHERE status = 'open') AS open,
       {dwell_stats},
       CASE WHEN GROUPING(hour_k, day_k, camera) = 7 THEN
           sum(dwell_s::numeric) FILTER (WHERE status = 'complete')
           / nullif((SELECT count(*) FROM (SELECT person_id FROM person_sessions
                                            WHERE status = 'complete' AND {sessions_where}
                                            GROUP BY person_id) AS persons), 0)
       END AS avg_dwell_per_person_s
FROM ses
GROUP BY GROUPING SETS ((hour_k), (day_k), (camera), ())
