-- The highest occupancy and the first instant it is reached (SPEC §7). Points are applied
-- in (t, d) order, so at one instant the ends come before the starts; the running level then
-- only passes through values already reached or on the way up to the instant's final level.
-- Levels only rise at a start, so the peak instant is an entry time inside the filtered range.
WITH {presence},
occ_levels AS (
    SELECT t, sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS level
    FROM presence_points
)
SELECT level AS peak_occupancy, t AS peak_occupancy_at
FROM occ_levels
WHERE level > 0
ORDER BY level DESC, t
LIMIT 1
