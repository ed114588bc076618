-- Hourly rollups per attribute combination as well, in a table of their own, so that
-- demographics and groups by an attribute add up from them like groups by camera, while
-- the KPIs and series keep reading the narrower rollup_hours. Per UTC hour, camera and
-- combination (0: no attributes; the combinations' ids start at 1): events under their own
-- combination, sessions under their entry event's (SPEC §10). A person seen under two
-- combinations in one hour and camera is a member of both rows, as of both groups.
-- rollup_hours is refreshed from the same grouping: its rows now hold their combinations'
-- person keys end to end, so such a person's key is in its row twice (the members are
-- counted as distinct keys).
CREATE TABLE rollup_attributes (
    hour            timestamptz NOT NULL,
    camera_id       text        COLLATE "C" NOT NULL,
    attribute_set   integer     NOT NULL,
    events          integer     NOT NULL,
    sessions        integer     NOT NULL,   -- every status
    complete        integer     NOT NULL,
    dwell_sum       numeric,                -- as in rollup_hours
    dwell_min       double precision,
    dwell_max       double precision,
    visitors        bytea       NOT NULL,   -- distinct person keys with an event
    dwells          bytea       NOT NULL,   -- complete sessions, int4 milliseconds
    PRIMARY KEY (hour, camera_id, attribute_set)
);
ALTER TABLE rollup_attributes ALTER COLUMN visitors SET STORAGE EXTERNAL;
ALTER TABLE rollup_attributes ALTER COLUMN dwells SET STORAGE EXTERNAL;

-- Held in memory like rollup_hours' members: its changes renew the same generation.
CREATE TRIGGER rollup_attributes_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollup_attributes
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_generation_renew();

-- A store holding events has no attribute rollups yet: it answers from the events until its
-- next upload (or `dwell rebuild-rollups`) rebuilds every rollup.
UPDATE rollup_state SET ready = NOT EXISTS (SELECT 1 FROM camera_events);
