-- The session side of the KPIs (SPEC §4, §6): counts by status and complete-dwell statistics.
SELECT count(*) FILTER (WHERE status = 'missing_exit') AS missing_exit,
       count(*) FILTER (WHERE status = 'open') AS open,
       {dwell_stats},
       sum(dwell_s::numeric) FILTER (WHERE status = 'complete')
           / nullif(count(DISTINCT person_id COLLATE "C") FILTER (WHERE status = 'complete'), 0)
           AS avg_dwell_per_person_s
FROM person_sessions
WHERE {sessions_where}
