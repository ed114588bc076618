-- The store: uploads, their events and rejected rows, the sessions paired from the events,
-- the attribute catalogue and the analytics cache. Times are timestamptz (UTC instants).
-- Ids compare byte-wise (COLLATE "C"): identifiers have no linguistic order, and byte
-- comparison makes the index builds, sorts and groupings over them cheaper.

CREATE TABLE uploads (
    id              bigserial PRIMARY KEY,
    filename        text        NOT NULL,
    content_sha256  text,
    size_bytes      bigint,
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'processing', 'completed', 'failed')),
    phase           text,
    progress        real        NOT NULL DEFAULT 0,
    rows_processed  bigint      NOT NULL DEFAULT 0,
    params          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    quality         jsonb,
    error           jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX uploads_sha256_idx ON uploads (content_sha256) WHERE status = 'completed';

-- One row per accepted event. session_id / dwell_duration are (re)assigned whenever the
-- (person_id, camera_id) key is re-paired; is_entry / is_exit follow event_type.
CREATE TABLE camera_events (
    id              bigint      PRIMARY KEY,
    -- No foreign key: a per-row check would dominate bulk loads. The pipeline writes an
    -- upload's events in the transaction that completes the upload row.
    upload_id       bigint      NOT NULL,
    line            integer     NOT NULL,
    ts              timestamptz NOT NULL,
    person_id       text        COLLATE "C" NOT NULL,
    camera_id       text        COLLATE "C" NOT NULL,
    event_type      text        COLLATE "C" NOT NULL CHECK (event_type IN ('entry', 'exit', 'other')),
    raw_event_type  text        NOT NULL,
    is_entry        boolean     GENERATED ALWAYS AS (event_type = 'entry') STORED,
    is_exit         boolean     GENERATED ALWAYS AS (event_type = 'exit') STORED,
    session_id      bigint,
    dwell_duration  double precision,
    attributes      jsonb
);
-- The duplicate rule of SPEC §3, and the lookup of a key's events when it is re-paired.
CREATE UNIQUE INDEX camera_events_key_idx ON camera_events (person_id, camera_id, ts, event_type);
CREATE INDEX camera_events_ts_idx ON camera_events (ts);
CREATE INDEX camera_events_camera_ts_idx ON camera_events (camera_id, ts);
CREATE SEQUENCE camera_events_id_seq OWNED BY camera_events.id;

CREATE TABLE person_sessions (
    id              bigint      PRIMARY KEY,
    person_id       text        COLLATE "C" NOT NULL,
    camera_id       text        COLLATE "C" NOT NULL,
    entry_ts        timestamptz NOT NULL,
    exit_ts         timestamptz,
    status          text        NOT NULL CHECK (status IN ('complete', 'missing_exit', 'open')),
    dwell_s         double precision,
    entry_event_id  bigint      NOT NULL,
    exit_event_id   bigint,
    attributes      jsonb       -- those of the entry event (SPEC §10)
);
CREATE INDEX person_sessions_key_idx ON person_sessions (person_id, camera_id, entry_ts);
CREATE INDEX person_sessions_entry_ts_idx ON person_sessions (entry_ts);
CREATE SEQUENCE person_sessions_id_seq OWNED BY person_sessions.id;

CREATE TABLE rejected_rows (
    upload_id       bigint      NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    line            integer     NOT NULL,
    reason          text        NOT NULL,
    column_name     text,
    value           text,
    raw             text        NOT NULL,
    PRIMARY KEY (upload_id, line)
);

-- Attribute columns seen in uploads (age_group, gender, zone, ...), for validation of
-- group-by requests and for the dashboard's pickers.
CREATE TABLE attributes (
    name            text        PRIMARY KEY,
    first_upload_id bigint      REFERENCES uploads (id) ON DELETE SET NULL
);

CREATE TABLE analytics_cache (
    cache_key       text        PRIMARY KEY,
    value           jsonb       NOT NULL,
    expires_at      timestamptz NOT NULL
);
CREATE INDEX analytics_cache_expires_idx ON analytics_cache (expires_at);

-- Bumped by every completed upload: part of every cache key, so stale answers are unreachable.
-- store_id tells stores apart when several share one Redis.
CREATE TABLE data_version (
    singleton       boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    version         bigint      NOT NULL,
    store_id        text        NOT NULL DEFAULT md5(random()::text || clock_timestamp()::text)
);
INSERT INTO data_version (singleton, version) VALUES (true, 0);
