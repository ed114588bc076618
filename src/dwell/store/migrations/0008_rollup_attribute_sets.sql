-- The hourly rollups per attribute combination too, so that demographics and groups by an
-- attribute add up from them like groups by camera. Events count under their own
-- combination, sessions under their entry event's; 0 stands for no attributes (the
-- combinations' ids start at 1). A person seen under two combinations in one hour is a
-- member of both rows, as of both groups.
ALTER TABLE rollup_hours DROP CONSTRAINT rollup_hours_pkey;
ALTER TABLE rollup_hours ADD COLUMN attribute_set integer NOT NULL DEFAULT 0;
ALTER TABLE rollup_hours ADD PRIMARY KEY (hour, camera_id, attribute_set);

-- Rows of the former grain are not split here: a store holding events answers from them
-- until its next upload (or `dwell rebuild-rollups`) rebuilds the rollups.
TRUNCATE rollup_hours, rollup_occupancy;
UPDATE rollup_state SET ready = NOT EXISTS (SELECT 1 FROM camera_events);
