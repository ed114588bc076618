-- The event side of the whole report (SPEC §6, §8, §9, §12) from one scan of the events.
-- The events are first counted per (hour, person), (day, person) and (camera, person), all
-- three hashed in the same pass; every distinct count of the report is then a plain count
-- of those rows. A person's visit days (SPEC §9) are the day groups: the calendar day in
-- the zone is the day bucket. The day gaps between a person's consecutive visits add up
-- to the days between the first and the last.
-- Rows, by grain: 'hour' / 'day' (every bucket of the continuous series, SPEC §8),
-- 'camera' (per camera), 'visits' (in `visitors`, the persons who made that many visits,
-- with their day gaps).
WITH ev AS (
    SELECT person_id COLLATE "C" AS person,
           camera_id COLLATE "C" AS camera,
           {hour_key} AS hour_k,
           {day_key} AS day_k,
           {local_day} AS visit_day,
           is_entry, is_exit, session_id
    FROM camera_events
    WHERE {events_where}
),
per_person AS (
    SELECT GROUPING(hour_k, day_k, camera) AS g, hour_k, day_k, visit_day, camera, person,
           count(*) AS events,
           count(*) FILTER (WHERE is_entry) AS entries,
           count(*) FILTER (WHERE is_exit) AS exits,
           count(*) FILTER (WHERE is_exit AND session_id IS NULL) AS orphan_exits
    FROM ev
    GROUP BY GROUPING SETS ((hour_k, person), (day_k, visit_day, person), (camera, person))
),
per_key AS (
    SELECT g, hour_k, day_k, camera,
           sum(events)::bigint AS events,
           sum(entries)::bigint AS entries,
           sum(exits)::bigint AS exits,
           sum(orphan_exits)::bigint AS orphan_exits,
           count(*) AS visitors
    FROM per_person
    GROUP BY g, hour_k, day_k, camera
),
hours AS (
    SELECT k, {hour_start} AS b_start
    FROM generate_series((SELECT min(hour_k) FROM per_key WHERE g = 3),
                         (SELECT max(hour_k) FROM per_key WHERE g = 3), {hour_step}) AS k
),
days AS (
    SELECT k, {day_start} AS b_start
    FROM generate_series((SELECT min(day_k) FROM per_key WHERE g = 5),
                         (SELECT max(day_k) FROM per_key WHERE g = 5), {day_step}) AS k
),
visits AS (
    SELECT count(*) AS visits, max(visit_day) - min(visit_day) AS gap_days
    FROM per_person
    WHERE g = 5
    GROUP BY person
)
SELECT 'hour' AS grain, h.b_start AS bucket, NULL::text AS camera, NULL::bigint AS visits,
       coalesce(e.events, 0) AS events, coalesce(e.entries, 0) AS entries,
       coalesce(e.exits, 0) AS exits, coalesce(e.orphan_exits, 0) AS orphan_exits,
       coalesce(e.visitors, 0) AS visitors, NULL::bigint AS gap_days, NULL::bigint AS gaps
FROM hours AS h LEFT JOIN per_key AS e ON e.g = 3 AND e.hour_k = h.k
UNION ALL
SELECT 'day', d.b_start, NULL, NULL, coalesce(e.events, 0), coalesce(e.entries, 0),
       coalesce(e.exits, 0), coalesce(e.orphan_exits, 0), coalesce(e.visitors, 0), NULL, NULL
FROM days AS d LEFT JOIN per_key AS e ON e.g = 5 AND e.day_k = d.k
UNION ALL
SELECT 'camera', NULL, camera, NULL, events, entries, exits, orphan_exits, visitors, NULL, NULL
FROM per_key
WHERE g = 6
UNION ALL
SELECT 'visits', NULL, NULL, visits, NULL, NULL, NULL, NULL, count(*),
       sum(gap_days)::bigint, sum(visits - 1)::bigint
FROM visits
GROUP BY visits
