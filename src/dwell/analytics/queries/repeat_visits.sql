-- Visits (SPEC §9): distinct (person, local calendar day). One row per number of visits:
-- how many persons made that many, and the day gaps between their consecutive visits.
WITH visits AS (
    SELECT person_id COLLATE "C" AS person, {local_day} AS day
    FROM camera_events
    WHERE {events_where}
    GROUP BY 1, 2
),
gaps AS (
    SELECT person, day - lag(day) OVER (PARTITION BY person ORDER BY day) AS gap_days
    FROM visits
),
per_person AS (
    SELECT count(*) AS visits, sum(gap_days) AS gap_days, count(gap_days) AS gaps
    FROM gaps
    GROUP BY person
)
SELECT visits,
       count(*) AS persons,
       coalesce(sum(gap_days), 0)::bigint AS gap_days,
       sum(gaps)::bigint AS gaps
FROM per_person
GROUP BY visits
ORDER BY visits
