UNION ALL
SELECT {grain} AS grain,
       {start} AS bucket,
       max(peak) AS peak_occupancy,
       sum(person_s) AS mean_occupancy  -- the exact person-seconds, not divided
FROM (SELECT {cell_key} AS k, peak, person_s FROM occ_cells WHERE cell IS NOT NULL) AS cells
GROUP BY k
