-- Presence of SPEC §7: a complete session of positive length puts its person on [entry, exit).
-- Each person's intervals over the filtered cameras are merged first (gaps and islands), so
-- that one person seen by two cameras at once counts once. In one ordered pass per person,
-- a row closes an island when the next interval starts after all so far have ended: -1 at
-- that end, +1 at the next start; the person's first interval opens the first island.
-- Touching intervals merge. Yields presence_points(t, d).
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
presence_edges AS MATERIALIZED (
    SELECT s, n, ended_by, next_s
    FROM presence_runs
    WHERE n = 1 OR next_s IS NULL OR next_s > ended_by
),
presence_points AS (
    SELECT s AS t, 1 AS d FROM presence_edges WHERE n = 1
    UNION ALL
    SELECT ended_by, -1 FROM presence_edges WHERE next_s IS NULL OR next_s > ended_by
    UNION ALL
    SELECT next_s, 1 FROM presence_edges WHERE next_s > ended_by
)
