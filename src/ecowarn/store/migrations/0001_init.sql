-- Readings, dead letters, evaluation queue, alerts and API tokens.
-- Plain PostgreSQL; 0001_init.timescale.sql adds the TimescaleDB layer when present.

CREATE TABLE readings (
    device_id   text             NOT NULL,
    metric      text             NOT NULL,
    ts          timestamptz      NOT NULL,
    value       double precision,
    flag        text             NOT NULL DEFAULT 'N',
    received_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, metric, ts)
);
-- Time-range scans across devices (province-wide re-evaluation, hourly views).
CREATE INDEX readings_ts_idx ON readings (ts);

-- Hourly aggregates over readings. A plain view here; the TimescaleDB migration
-- replaces it with a continuous aggregate of the same name and columns.
CREATE VIEW readings_hourly AS
SELECT device_id,
       metric,
       date_trunc('hour', ts)                         AS bucket,
       count(*)                                       AS n,
       count(value) FILTER (WHERE flag = 'N')         AS n_valid,
       avg(value) FILTER (WHERE flag = 'N')           AS avg_valid,
       min(value)                                     AS min_value,
       max(value)                                     AS max_value
FROM readings
GROUP BY device_id, metric, date_trunc('hour', ts);

CREATE TABLE dead_letters (
    id            bigserial   PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    source        text        NOT NULL,           -- mqtt | http | hj212 | replay
    topic         text,
    device_id     text,
    reason        text        NOT NULL,           -- stable code, e.g. naive_timestamp
    detail        text        NOT NULL,           -- human-readable explanation
    payload       bytea       NOT NULL,           -- raw bytes as received
    replayed_at   timestamptz,
    replay_result text
);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason, id);
CREATE INDEX dead_letters_pending_idx ON dead_letters (id) WHERE replayed_at IS NULL;

-- Work for the detector runner: which devices got data for which event-time span.
-- Append-only for writers (no row contention); the runner claims with SKIP LOCKED.
CREATE TABLE pending_eval (
    id         bigserial   PRIMARY KEY,
    device_id  text        NOT NULL,
    t_min      timestamptz NOT NULL,
    t_max      timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id            bigserial   PRIMARY KEY,
    rule          text        NOT NULL,
    subject       text        NOT NULL,           -- what the condition is about, e.g. a production device
    enterprise_id text,
    device_ids    text[]      NOT NULL,
    start_ts      timestamptz NOT NULL,
    end_ts        timestamptz,                    -- null while the condition lasts
    severity      text        NOT NULL,
    status        text        NOT NULL DEFAULT 'open',
    summary       text        NOT NULL,
    summary_zh    text        NOT NULL,
    params        jsonb       NOT NULL,
    evidence      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (end_ts IS NULL OR end_ts >= start_ts)
);
CREATE INDEX alerts_subject_idx ON alerts (rule, subject, start_ts);
CREATE INDEX alerts_start_idx ON alerts (start_ts DESC, id DESC);
CREATE INDEX alerts_enterprise_idx ON alerts (enterprise_id, start_ts DESC, id DESC);
CREATE INDEX alerts_devices_idx ON alerts USING gin (device_ids);

CREATE TABLE api_tokens (
    id            bigserial   PRIMARY KEY,
    token_hash    text        NOT NULL UNIQUE,    -- sha256 hex of the bearer token
    role          text        NOT NULL CHECK (role IN ('officer', 'enterprise', 'credit', 'ingest', 'admin')),
    enterprise_id text,
    label         text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    CHECK ((role = 'enterprise') = (enterprise_id IS NOT NULL))
);
