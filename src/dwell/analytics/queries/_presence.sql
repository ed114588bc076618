-- Presence of SPEC §7: a complete session of positive length puts its person on [entry, exit).
-- Each person's intervals over the filtered cameras are merged first (gaps and islands), so
-- that one person seen by two cameras at once counts once: in one ordered pass per person,
-- an interval opens an island when it starts after every earlier one has ended (+1 at its
-- start), and closes it when the next one starts after all so far have ended (-1 there).
-- Touching intervals merge. Yields presence_points(t, d).
presence AS (
    SELECT person_id COLLATE "C" AS person, entry_ts AS s, exit_ts AS e
    FROM person_sessions
    WHERE status = 'complete' AND exit_ts > entry_ts AND {sessions_where}
),
presence_runs AS (
    SELECT s,
           max(e) OVER (PARTITION BY person ORDER BY s, e
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS ended_before,
           max(e) OVER (PARTITION BY person ORDER BY s, e ROWS UNBOUNDED PRECEDING) AS ended_by,
           lead(s) OVER (PARTITION BY person ORDER BY s, e) AS next_s
    FROM presence
),
presence_points AS (
    SELECT v.t, v.d
    FROM presence_runs
    CROSS JOIN LATERAL (VALUES (s, 1, ended_before IS NULL OR s > ended_before),
                               (ended_by, -1, next_s IS NULL OR next_s > ended_by))
               AS v (t, d, keep)
    WHERE v.keep
)
