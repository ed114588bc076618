-- Distinct persons with an event in each bucket, over the continuous series (SPEC §7, §8).
-- (bucket, person) groups are hashed, then counted per bucket: no sort.
WITH ev_b AS (
    SELECT k, count(*) AS visitors
    FROM (SELECT {event_key} AS k, person_id COLLATE "C" AS person
          FROM camera_events
          WHERE {events_where}
          GROUP BY 1, 2) AS per_person
    GROUP BY k
),
{buckets}
SELECT b.b_start AS bucket, coalesce(e.visitors, 0) AS visitors
FROM buckets AS b
LEFT JOIN ev_b AS e ON e.k = b.k
ORDER BY b.k
