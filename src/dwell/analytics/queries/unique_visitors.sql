SELECT count(DISTINCT person_id COLLATE "C") AS unique_visitors
FROM camera_events
WHERE {events_where}
