-- Every bucket from the first event's to the last event's, empty ones included.
-- Needs a CTE ev_b(k, ...) with the bucket keys of the filtered events.
buckets AS (
    SELECT k, {bucket_start} AS b_start, {bucket_end} AS b_end
    FROM generate_series((SELECT min(k) FROM ev_b), (SELECT max(k) FROM ev_b), {step}) AS k
)
