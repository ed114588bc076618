count(*) FILTER (WHERE status = 'complete') AS complete_sessions,
avg(dwell_s::numeric) FILTER (WHERE status = 'complete') AS avg_dwell_s,
percentile_cont(0.5) WITHIN GROUP (ORDER BY dwell_s) FILTER (WHERE status = 'complete') AS median_dwell_s,
min(dwell_s) FILTER (WHERE status = 'complete') AS min_dwell_s,
max(dwell_s) FILTER (WHERE status = 'complete') AS max_dwell_s,
percentile_cont(0.9) WITHIN GROUP (ORDER BY dwell_s) FILTER (WHERE status = 'complete') AS p90_dwell_s
