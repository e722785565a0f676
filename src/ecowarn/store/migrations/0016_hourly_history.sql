-- Late readings and the hourly continuous aggregate (TimescaleDB mode).
-- The refresh policy of readings_hourly covers the last 3 days only: readings that
-- arrive later than that for their hour would never be aggregated. The TimescaleDB
-- layer of this migration adds a trigger that copies each pending_eval span older than
-- 2 days (the policy window less a day of margin for a late policy run) into
-- hourly_refresh_queue; ecowarn.store.timescale.HourlyRefresher refreshes those hours
-- and empties the queue. On plain PostgreSQL readings_hourly is a view: nothing is
-- queued (no trigger) and the table stays empty.

CREATE TABLE hourly_refresh_queue (
    id         bigserial   PRIMARY KEY,
    t_min      timestamptz NOT NULL,
    t_max      timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION queue_hourly_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO hourly_refresh_queue (t_min, t_max) VALUES (NEW.t_min, NEW.t_max);
    RETURN NULL;
END
$$;
