-- Statistics per group (SPEC §10): events and visitors from the events, sessions and dwell
-- from the sessions (a session's attribute is its entry event's). A NULL key is a group of
-- its own; the two sides are stacked and regrouped rather than joined, because NULL keys
-- would not match in a join. The attribute sets join only when an attribute is the key
-- (PostgreSQL drops an unused left join to a unique key).
-- Visitors are counted from (group, person) pairs grouped first: PostgreSQL hashes those,
-- where count(DISTINCT) would sort every event (10 M events by an attribute: 10 s, not 17 s).
WITH ev_g AS (
    SELECT k, sum(n)::bigint AS events, count(*) AS unique_visitors
    FROM (SELECT {event_key} AS k, person_id, count(*) AS n
          FROM camera_events LEFT JOIN attribute_sets USING (attribute_set)
          WHERE {events_where}
          GROUP BY 1, 2) AS per_person
    GROUP BY 1
),
ses_g AS (
    SELECT {session_key} AS k,
           count(*) AS sessions,
           {dwell_stats}
    FROM person_sessions LEFT JOIN attribute_sets USING (attribute_set)
    WHERE {sessions_where}
    GROUP BY 1
),
stacked AS (
    SELECT k, events, unique_visitors, 0::bigint AS sessions, 0::bigint AS complete_sessions,
           NULL::float8 AS avg_dwell_s, NULL::float8 AS median_dwell_s,
           NULL::float8 AS min_dwell_s, NULL::float8 AS max_dwell_s, NULL::float8 AS p90_dwell_s
    FROM ev_g
    UNION ALL
    SELECT k, 0, 0, sessions, complete_sessions,
           avg_dwell_s, median_dwell_s, min_dwell_s, max_dwell_s, p90_dwell_s
    FROM ses_g
)
SELECT {group_value} AS group_value,
       sum(events)::bigint AS events,
       sum(unique_visitors)::bigint AS unique_visitors,
       sum(sessions)::bigint AS sessions,
       sum(complete_sessions)::bigint AS complete_sessions,
       max(avg_dwell_s) AS avg_dwell_s,
       max(median_dwell_s) AS median_dwell_s,
       max(min_dwell_s) AS min_dwell_s,
       max(max_dwell_s) AS max_dwell_s,
       max(p90_dwell_s) AS p90_dwell_s
FROM stacked
GROUP BY k
ORDER BY k NULLS LAST
