SELECT {start} AS t
FROM span, generate_series({first_key}, {last_key}, {step}) AS k
UNION ALL
SELECT {last_end} FROM span WHERE last_ts IS NOT NULL
