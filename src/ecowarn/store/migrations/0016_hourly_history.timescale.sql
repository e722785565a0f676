-- TimescaleDB layer for 0016: moves installations that ran 0001's layer to the
-- settings 0001's layer now installs. Every statement is idempotent.
--
-- 1. Columnstore names (TimescaleDB 2.18+ deprecates timescaledb.compress* and
--    add_compression_policy). The settings are the same; re-setting them is allowed on a
--    hypertable with chunks already in the columnstore (settings apply per chunk), and the
--    existing policy_compression job is the columnstore policy (if_not_exists: kept).
-- @if timescaledb >= 2.18
ALTER TABLE readings SET (
    timescaledb.enable_columnstore,
    timescaledb.segmentby = 'device_id',
    timescaledb.orderby = 'metric, ts DESC'
);

CALL add_columnstore_policy('readings', after => INTERVAL '7 days', if_not_exists => true);
-- @end

-- 2. Late data: spans older than 2 days are queued for an explicit refresh (see 0016).
DROP TRIGGER IF EXISTS queue_hourly_refresh ON pending_eval;

CREATE TRIGGER queue_hourly_refresh AFTER INSERT ON pending_eval FOR EACH ROW
    WHEN (NEW.t_min < now() - INTERVAL '2 days')
    EXECUTE FUNCTION queue_hourly_refresh();

-- 3. History: materialise every hour before the policy window that was never
--    materialised (the history present when 0001's layer ran, and hours the policy
--    window had left behind). A NULL start covers the whole range; the end is the
--    policy's end_offset. Runs outside a transaction, as refresh_continuous_aggregate
--    requires; already materialised hours without changes are skipped.
CALL refresh_continuous_aggregate('readings_hourly', NULL, now() - INTERVAL '1 hour');
