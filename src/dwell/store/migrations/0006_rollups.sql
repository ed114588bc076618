-- Hourly rollups, maintained by every upload in its own transaction, so that the KPIs and
-- time series over months of events read a few thousand rows instead of millions.
-- Everything in them is exact: counts and sums add up; distinct persons and dwell order
-- statistics keep their members (person keys, dwell values) so that any union of hours can
-- be counted and ranked exactly.

-- A dense integer per person, so sets of persons are compact arrays and unions are bitmaps.
CREATE TABLE person_keys (
    person_id   text    COLLATE "C" PRIMARY KEY,
    person_key  integer GENERATED ALWAYS AS IDENTITY UNIQUE
);

-- Per UTC hour and camera: events by the hour of their timestamp, sessions by the hour of
-- their entry (SPEC §5).
CREATE TABLE rollup_hours (
    hour            timestamptz NOT NULL,
    camera_id       text        COLLATE "C" NOT NULL,
    events          integer     NOT NULL,
    entries         integer     NOT NULL,
    exits           integer     NOT NULL,
    orphan_exits    integer     NOT NULL,
    complete        integer     NOT NULL,
    missing_exit    integer     NOT NULL,
    open            integer     NOT NULL,
    dwell_sum       numeric,                -- of complete sessions, sum(dwell_s::numeric)
    dwell_min       double precision,
    dwell_max       double precision,
    visitors        bytea       NOT NULL,   -- distinct person keys with an event: int4, big-endian
    dwellers        bytea       NOT NULL,   -- person keys of the complete sessions (repeats kept)
    -- The dwell of each complete session in milliseconds, which is exact: instants are kept
    -- to the millisecond. int4, big-endian, saturated at 2^31 - 1 (24.8 days; a range with
    -- a longer dwell is answered from the sessions).
    dwells          bytea       NOT NULL,
    PRIMARY KEY (hour, camera_id)
);
-- The arrays are read whole and are already dense: compressing them costs more than it saves.
ALTER TABLE rollup_hours ALTER COLUMN visitors SET STORAGE EXTERNAL;
ALTER TABLE rollup_hours ALTER COLUMN dwellers SET STORAGE EXTERNAL;
ALTER TABLE rollup_hours ALTER COLUMN dwells SET STORAGE EXTERNAL;

-- Occupancy over all cameras (SPEC §7) per UTC hour, from every session: the peak (the level
-- carried in at the hour's start counts) and the person-seconds present. Hours with nobody
-- present have no row.
CREATE TABLE rollup_occupancy (
    hour        timestamptz PRIMARY KEY,
    peak        integer     NOT NULL,
    person_s    numeric     NOT NULL
);

-- Whether the rollups describe every stored event. A store loaded before this migration, or
-- by a loader that skips them (`dwell analyze`'s throw-away store), is rebuilt by its next
-- upload that maintains them; until then every question is answered from the events.
CREATE TABLE rollup_state (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    ready       boolean NOT NULL
);
INSERT INTO rollup_state (singleton, ready) VALUES (true, NOT EXISTS (SELECT 1 FROM camera_events));
