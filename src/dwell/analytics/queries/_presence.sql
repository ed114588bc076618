-- Presence of SPEC §7: a complete session of positive length puts its person on [entry, exit).
-- Each person's intervals over the filtered cameras are merged first (gaps and islands), so
-- that one person seen by two cameras at once counts once. In one ordered pass per person,
-- a row closes an island when the next interval starts after all so far have ended: -1 at
-- that end, +1 at the next start; the person's first interval opens the first island.
-- Touching intervals merge. Each row yields its points directly (no intermediate table read
-- three times). Yields presence_points(t, d).
presence AS (
    SELECT person_id COLLATE "C" AS person, entry_ts AS s, exit_ts AS e
    FROM person_sessions
    WHERE status = 'complete' AND exit_ts > entry_ts AND {sessions_where}
),
presence_runs AS (
    SELECT s, max(e) OVER per_person AS ended_by, lead(s) OVER per_person AS next_s,
           row_number() OVER per_person AS n
    FROM presence
    WINDOW per_person AS (PARTITION BY person ORDER BY s, e ROWS UNBOUNDED PRECEDING)
),
presence_pairs AS (
    SELECT unnest(ARRAY[CASE WHEN n = 1 THEN s END,
                        CASE WHEN next_s IS NULL OR next_s > ended_by THEN ended_by END,
                        CASE WHEN next_s > ended_by THEN next_s END]) AS t,
           unnest(ARRAY[1, -1, 1]) AS d
    FROM presence_runs
),
presence_points AS (
    SELECT t, d FROM presence_pairs WHERE t IS NOT NULL
)
