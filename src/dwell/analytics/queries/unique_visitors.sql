-- The persons are grouped first (hashed), where count(DISTINCT) would sort every event.
SELECT count(*) AS unique_visitors
FROM (SELECT person_id FROM camera_events WHERE {events_where} GROUP BY person_id) AS persons
