UNION ALL
SELECT {grain} AS grain,
       {start} AS bucket,
       max(peak) AS peak_occupancy,
       coalesce(sum(person_s), 0) AS mean_occupancy  -- exact person-seconds, not divided
FROM (SELECT {cell_key} AS k, peak, person_s FROM occ_cells WHERE cell IS NOT NULL) AS cells
GROUP BY k
