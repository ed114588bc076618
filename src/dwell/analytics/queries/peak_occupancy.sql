-- The overall peak of SPEC §7 and the first instant it is reached, when no buckets are asked
-- for (occupancy_sweep.sql does both at once): the same +1/-1 sweep over merged presence,
-- without marks or cells. At one instant the ends come before the starts, so no level after
-- a row exceeds the level the instant settles at: the highest level after any row is the
-- peak, and the earliest row at that level (a start) is when it is first reached.
WITH {presence},
levels AS (
    SELECT t, sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS level
    FROM presence_points
)
SELECT level AS peak_occupancy, t AS peak_at
FROM levels
ORDER BY level DESC, t
LIMIT 1
