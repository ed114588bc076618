-- Occupancy per bucket (SPEC §7): one sweep over presence_points in (t, d) order (ends before
-- starts at one instant) with every bucket start added as a breakpoint of d = 0, which sorts
-- after the ends and before the starts of its instant. Each level segment then lies inside one
-- bucket, and the breakpoint's level is the level carried in at the bucket's start.
-- Needs the CTEs presence_points and buckets.
occ_points AS (
    SELECT t, d, false AS mark FROM presence_points
    UNION ALL
    SELECT b_start, 0, true FROM buckets
    UNION ALL
    SELECT max(b_end), 0, true FROM buckets HAVING count(*) > 0
),
occ_levels AS (
    SELECT t,
           sum(d) OVER running AS level,
           max(t) FILTER (WHERE mark) OVER running AS b_start,
           lead(t) OVER running AS next_t
    FROM occ_points
    WINDOW running AS (ORDER BY t, d ROWS UNBOUNDED PRECEDING)
),
occ_b AS (
    SELECT b_start,
           max(level) AS peak_occupancy,
           sum(level * date_part('epoch', next_t - t)) AS person_s
    FROM occ_levels
    WHERE b_start IS NOT NULL
    GROUP BY b_start
)
