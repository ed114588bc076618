-- One row per time bucket (SPEC §8), from the first event's bucket to the last event's:
-- events by the bucket of their timestamp, sessions by the bucket of their entry.
-- Occupancy comes from occupancy_sweep.sql.
WITH ev_b AS (
    SELECT {event_key} AS k,
           count(*) AS events,
           count(*) FILTER (WHERE is_entry) AS entries,
           count(*) FILTER (WHERE is_exit) AS exits,
           count(DISTINCT person_id COLLATE "C") AS unique_visitors
    FROM camera_events
    WHERE {events_where}
    GROUP BY 1
),
{buckets},
ses_b AS (
    SELECT {session_key} AS k,
           count(*) AS sessions_started,
           avg(dwell_s::numeric) FILTER (WHERE status = 'complete') AS avg_dwell_s,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY dwell_s)
               FILTER (WHERE status = 'complete') AS median_dwell_s,
           max(dwell_s) FILTER (WHERE status = 'complete') AS max_dwell_s
    FROM person_sessions
    WHERE {sessions_where}
    GROUP BY 1
)
SELECT b.b_start AS bucket,
       coalesce(e.events, 0) AS events,
       coalesce(e.entries, 0) AS entries,
       coalesce(e.exits, 0) AS exits,
       coalesce(e.unique_visitors, 0) AS unique_visitors,
       coalesce(s.sessions_started, 0) AS sessions_started,
       s.avg_dwell_s,
       s.median_dwell_s,
       s.max_dwell_s
FROM buckets AS b
LEFT JOIN ev_b AS e ON e.k = b.k
LEFT JOIN ses_b AS s ON s.k = b.k
ORDER BY b.k
