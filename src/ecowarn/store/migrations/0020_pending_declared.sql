-- Which pending_eval spans are not readings: a declaration (maintenance) or an order queues
-- the span it concerns (0005), and nothing was read in it. The detector runner trusts a
-- readings span's end as the device's newest reading (data_gap answers a device's in-order
-- data without reading it back, detectors/runtime/eval_data_gap.py); a declared span's end
-- may lie anywhere, so it is never taken for one. Writers of readings leave the default.
ALTER TABLE pending_eval ADD COLUMN declared boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION maintenance_queue_eval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pending_eval (device_id, t_min, t_max, declared)
    VALUES (NEW.device_id, NEW.start_ts, NEW.end_ts, true);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION emergency_order_queue_eval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pending_eval (device_id, t_min, t_max, declared)
    SELECT e, NEW.start_ts, NEW.end_ts, true FROM unnest(NEW.enterprise_ids) AS e;
    RETURN NULL;
END
$$;
