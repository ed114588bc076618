-- Occupancy per time bucket (SPEC §7): peak, mean, and visitors with an event in the bucket.
WITH ev_b AS (
    SELECT {event_key} AS k, count(DISTINCT person_id COLLATE "C") AS visitors
    FROM camera_events
    WHERE {events_where}
    GROUP BY 1
),
{buckets},
{presence},
{bucket_occupancy}
SELECT b.b_start AS bucket,
       coalesce(o.peak_occupancy, 0) AS peak_occupancy,
       coalesce(o.person_s, 0) / date_part('epoch', b.b_end - b.b_start) AS mean_occupancy,
       coalesce(e.visitors, 0) AS visitors
FROM buckets AS b
LEFT JOIN ev_b AS e ON e.k = b.k
LEFT JOIN occ_b AS o ON o.b_start = b.b_start
ORDER BY b.k
