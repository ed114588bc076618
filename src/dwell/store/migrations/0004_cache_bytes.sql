-- The analytics cache keeps each answer as the JSON bytes the API sent, so a hit is sent as
-- stored: byte for byte the miss that filled it (jsonb reorders keys and would need decoding
-- and encoding again). Cached answers are disposable: the old rows are dropped.
TRUNCATE analytics_cache;
ALTER TABLE analytics_cache DROP COLUMN value;
ALTER TABLE analytics_cache ADD COLUMN body bytea NOT NULL;
