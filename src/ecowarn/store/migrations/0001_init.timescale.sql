-- TimescaleDB layer for 0001 (runs outside a transaction, statement by statement).
-- Readings become a hypertable partitioned by event time in one-day chunks;
-- chunks older than 7 days move to the columnstore, segmented by device; raw data is
-- kept for 5 years (HJ 75 asks platforms to keep monitoring records for years), hourly
-- aggregates are kept without a retention policy. The segmentby and orderby columns
-- cover the primary key (device_id, metric, ts), as TimescaleDB requires for a unique
-- index on a compressed hypertable. TimescaleDB 2.18 renamed the compression API to the
-- columnstore API: the block below picks the names of the installed version.
-- The plain view over readings goes first; the continuous aggregate replaces it below.
-- Every statement of this layer can run again: when a run stopped part-way (the history
-- refresh at the end is long on a large database), the next start repeats the layer. The
-- view is dropped only while it is not yet the continuous aggregate, since TimescaleDB
-- refuses DROP VIEW on a continuous aggregate ("cannot drop continuous aggregate using
-- DROP VIEW"), which would stop every later start here.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates
                   WHERE view_schema = current_schema() AND view_name = 'readings_hourly') THEN
        DROP VIEW IF EXISTS readings_hourly;
    END IF;
END
$$;

SELECT create_hypertable('readings', by_range('ts', INTERVAL '1 day'), migrate_data => true, if_not_exists => true);

-- @if timescaledb >= 2.18
ALTER TABLE readings SET (
    timescaledb.enable_columnstore,
    timescaledb.segmentby = 'device_id',
    timescaledb.orderby = 'metric, ts DESC'
);

CALL add_columnstore_policy('readings', after => INTERVAL '7 days', if_not_exists => true);
-- @else
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'metric, ts DESC'
);

SELECT add_compression_policy('readings', INTERVAL '7 days', if_not_exists => true);
-- @end

SELECT add_retention_policy('readings', INTERVAL '5 years', if_not_exists => true);

CREATE MATERIALIZED VIEW IF NOT EXISTS readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT device_id,
       metric,
       time_bucket(INTERVAL '1 hour', ts)             AS bucket,
       count(*)                                       AS n,
       count(value) FILTER (WHERE flag = 'N')         AS n_valid,
       avg(value) FILTER (WHERE flag = 'N')           AS avg_valid,
       min(value)                                     AS min_value,
       max(value)                                     AS max_value
FROM readings
GROUP BY device_id, metric, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;

SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes',
    if_not_exists => true);

-- The policy window covers the last 3 days only: materialise the history already in
-- readings (a database migrated on plain PostgreSQL first) over the whole range, up to
-- the policy's end_offset. Outside a transaction, as the procedure requires.
CALL refresh_continuous_aggregate('readings_hourly', NULL, now() - INTERVAL '1 hour');
