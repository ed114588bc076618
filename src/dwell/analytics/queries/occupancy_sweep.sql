-- Occupancy (SPEC §7) in one sweep over the merged presence intervals: +1 at a start, -1 at
-- an end, applied in (t, d) order so that at one instant the ends come before the starts.
-- The start of every requested bucket is added as a mark (d = 0, so it sorts after the ends
-- and before the starts of its instant): the marks cut time into cells that each lie inside
-- one bucket of every requested interval, and a mark's level is the level carried in at its
-- bucket's start. Cells roll up into buckets (peak = max, person-seconds = sum).
-- The overall peak is the highest level; the first instant it is reached is the last row that
-- set a new record, and records are only set by starts.
WITH span AS (
    SELECT min(ts) AS first_ts, max(ts) AS last_ts
    FROM camera_events
    WHERE {events_where}
),
marks AS (
    {marks}
),
{presence},
occ_points AS (
    SELECT t, d, false AS mark FROM presence_points
    UNION ALL
    SELECT t, 0, true FROM marks
),
occ_swept AS (
    SELECT t, d,
           sum(d) OVER running AS level,
           max(t) FILTER (WHERE mark) OVER running AS cell,
           lead(t) OVER running AS next_t
    FROM occ_points
    WINDOW running AS (ORDER BY t, d ROWS UNBOUNDED PRECEDING)
),
occ_levels AS (
    SELECT t, level, cell, next_t,
           level > coalesce(max(level) OVER (ORDER BY t, d ROWS BETWEEN UNBOUNDED PRECEDING
                                                              AND 1 PRECEDING), 0) AS is_record
    FROM occ_swept
),
occ_cells AS MATERIALIZED (
    SELECT cell,
           max(level) AS peak,
           sum(level * extract(epoch FROM next_t - t)) AS person_s,
           max(t) FILTER (WHERE is_record) AS last_record
    FROM occ_levels
    GROUP BY cell
)
SELECT 'all' AS grain,
       max(last_record) AS bucket,
       coalesce(max(peak), 0) AS peak_occupancy,
       NULL::numeric AS mean_occupancy
FROM occ_cells
{rollups}
