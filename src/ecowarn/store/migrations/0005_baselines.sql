-- Learned baselines ("typical running load / flow", production baseline for limit
-- orders): one summary per series and local (UTC+8) day, written by the detector
-- runner (detectors/_baselines.py). A baseline over a trailing window is merged from
-- the days' summaries, so a day is read from `readings` once, not every evaluation.
-- Late data for a summarised day deletes that day's row; it is recomputed when needed.

CREATE TABLE baselines (
    series      text               NOT NULL,   -- e.g. 'load:PWR-BAG-1', 'flow:13010500000001'
    day_start   timestamptz        NOT NULL,   -- 00:00 UTC+8 of the day summarised
    n           integer            NOT NULL CHECK (n >= 0),   -- running minutes counted
    quantiles   double precision[] NOT NULL,   -- evenly spaced quantiles of those minutes
    computed_at timestamptz        NOT NULL DEFAULT now(),
    PRIMARY KEY (series, day_start)
);

-- Re-evaluation when a declaration or an order arrives after the data it concerns:
-- queued in `pending_eval` by the same transaction that inserts it, whichever path
-- inserts it (POST /api/v1/maintenance, an enterprise's maintenance_declared answer,
-- POST /api/v1/emergency-orders). An order is queued under each enterprise id; the
-- emergency_noncompliance evaluator maps an enterprise id to its production meters.

CREATE FUNCTION maintenance_queue_eval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pending_eval (device_id, t_min, t_max)
    VALUES (NEW.device_id, NEW.start_ts, NEW.end_ts);
    RETURN NULL;
END
$$;
CREATE TRIGGER maintenance_queue_eval AFTER INSERT OR UPDATE OF device_id, start_ts, end_ts
    ON maintenance FOR EACH ROW EXECUTE FUNCTION maintenance_queue_eval();

CREATE FUNCTION emergency_order_queue_eval() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pending_eval (device_id, t_min, t_max)
    SELECT e, NEW.start_ts, NEW.end_ts FROM unnest(NEW.enterprise_ids) AS e;
    RETURN NULL;
END
$$;
CREATE TRIGGER emergency_order_queue_eval AFTER INSERT OR UPDATE OF enterprise_ids, start_ts, end_ts
    ON emergency_orders FOR EACH ROW EXECUTE FUNCTION emergency_order_queue_eval();
