-- Which state the hourly rollups are in: renewed by every statement that changes
-- rollup_hours, so a process that holds their members in memory knows when to read them
-- again (dwell.analytics.members). A random value, never reused, also across databases.
ALTER TABLE rollup_state ADD COLUMN generation uuid NOT NULL DEFAULT gen_random_uuid();

CREATE FUNCTION rollup_generation_renew() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rollup_state SET generation = gen_random_uuid();
    RETURN NULL;
END;
$$;

CREATE TRIGGER rollup_hours_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rollup_hours
    FOR EACH STATEMENT EXECUTE FUNCTION rollup_generation_renew();
