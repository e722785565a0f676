-- Emergency orders (shutdown or curtailment during heavy pollution) and declared
-- maintenance windows (CONTRACT section 5). Both are time windows that detectors
-- look up by enterprise or device: "which orders / maintenance cover this span?".

CREATE TABLE emergency_orders (
    id               bigserial   PRIMARY KEY,
    enterprise_ids   text[]      NOT NULL CHECK (cardinality(enterprise_ids) > 0),
    start_ts         timestamptz NOT NULL,
    end_ts           timestamptz NOT NULL,
    measure          text        NOT NULL CHECK (measure IN ('shutdown', 'limit')),
    limit_pct        smallint    CHECK (limit_pct BETWEEN 1 AND 100),   -- curtailment, percent of baseline
    created_by_token bigint      REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (end_ts > start_ts),
    CHECK ((measure = 'limit') = (limit_pct IS NOT NULL))
);
-- Orders naming an enterprise (enterprise_ids @> ARRAY[...]).
CREATE INDEX emergency_orders_enterprises_idx ON emergency_orders USING gin (enterprise_ids);
-- Orders overlapping a span: end_ts > span start AND start_ts < span end.
CREATE INDEX emergency_orders_window_idx ON emergency_orders (end_ts, start_ts);

CREATE TABLE maintenance (
    id               bigserial   PRIMARY KEY,
    device_id        text        NOT NULL,
    enterprise_id    text,                           -- null for public air stations
    start_ts         timestamptz NOT NULL,
    end_ts           timestamptz NOT NULL,
    reason           text        NOT NULL,
    declared_by_role text        NOT NULL CHECK (declared_by_role IN ('officer', 'enterprise', 'admin')),
    created_by_token bigint      REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (end_ts > start_ts)
);
CREATE INDEX maintenance_device_idx ON maintenance (device_id, start_ts, end_ts);
CREATE INDEX maintenance_enterprise_idx ON maintenance (enterprise_id, start_ts, end_ts);
