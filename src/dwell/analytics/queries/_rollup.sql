UNION ALL
SELECT {grain} AS grain,
       {start} AS bucket,
       max(peak) AS peak_occupancy,
       sum(person_s) / nullif(date_part('epoch', {end} - {start}), 0) AS mean_occupancy
FROM (SELECT {cell_key} AS k, peak, person_s FROM occ_cells WHERE cell IS NOT NULL) AS cells
GROUP BY k
