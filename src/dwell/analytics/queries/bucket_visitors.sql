-- Distinct persons with an event in each bucket, over the continuous series (SPEC §7, §8).
WITH ev_b AS (
    SELECT {event_key} AS k, count(DISTINCT person_id COLLATE "C") AS visitors
    FROM camera_events
    WHERE {events_where}
    GROUP BY 1
),
{buckets}
SELECT b.b_start AS bucket, coalesce(e.visitors, 0) AS visitors
FROM buckets AS b
LEFT JOIN ev_b AS e ON e.k = b.k
ORDER BY b.k
