-- The session side of the KPIs (SPEC §4, §6): counts by status and complete-dwell statistics.
-- Distinct persons by hashing (GROUP BY), not by the sort count(DISTINCT) does.
SELECT count(*) FILTER (WHERE status = 'missing_exit') AS missing_exit,
       count(*) FILTER (WHERE status = 'open') AS open,
       {dwell_stats},
       sum(dwell_s::numeric) FILTER (WHERE status = 'complete')
           / nullif((SELECT count(*) FROM (SELECT person_id COLLATE "C" FROM person_sessions
                                           WHERE status = 'complete' AND {sessions_where}
                                           GROUP BY 1) AS persons), 0)
           AS avg_dwell_per_person_s
FROM person_sessions
WHERE {sessions_where}
