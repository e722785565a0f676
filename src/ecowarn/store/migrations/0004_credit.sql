-- From alert to action: automated risk warnings to enterprises (an outbox with its
-- delivery log), frozen evidence packages, the environmental credit ledger and the
-- credit_scores view. See docs/credit.md.

-- The warning dispatcher looks for recently created alerts that have no outbox row yet.
CREATE INDEX IF NOT EXISTS alerts_created_at_idx ON alerts (created_at);

-- One row per alert, event and channel: the unique key makes a repeat trigger, a
-- restart or a second dispatcher instance unable to send a warning twice. Events:
-- 'opened' (risk warning when the alert opens) and 'dispatched' (the officer's notice,
-- with the answer deadline). ``body`` holds the exact bytes sent, the same on every
-- attempt (same signature, same X-Ecowarn-Delivery).
CREATE TABLE warning_deliveries (
    id               bigserial   PRIMARY KEY,
    delivery_id      uuid        NOT NULL UNIQUE,       -- X-Ecowarn-Delivery
    alert_id         bigint      NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    event            text        NOT NULL CHECK (event IN ('opened', 'dispatched')),
    enterprise_id    text        NOT NULL,
    channel          text        NOT NULL CHECK (channel IN ('webhook', 'mqtt')),
    target           text        NOT NULL,              -- webhook URL or MQTT topic
    body             text        NOT NULL,              -- UTF-8 JSON as sent
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,              -- also the lease while an attempt runs
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (alert_id, event, channel),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX warning_deliveries_due_idx ON warning_deliveries (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX warning_deliveries_enterprise_idx ON warning_deliveries (enterprise_id, alert_id DESC);

-- Every attempt, kept: proof of when the enterprise was told (Administrative Penalty
-- Law art. 41) and what its receiver answered.
CREATE TABLE warning_attempts (
    id           bigserial   PRIMARY KEY,
    delivery     bigint      NOT NULL REFERENCES warning_deliveries (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    started_at   timestamptz NOT NULL,
    duration_ms  integer     NOT NULL,
    status_code  integer,
    error        text,
    UNIQUE (delivery, attempt)
);

-- Evidence packages and credit ledger entries form ONE hash chain, ordered by
-- chain_seq: hash = sha256(prev_hash || canonical payload of the row). Writers take a
-- transaction-scoped advisory lock before appending, so chain order is commit order.
CREATE SEQUENCE credit_chain_seq;

CREATE TABLE evidence_packages (
    id            bigint      PRIMARY KEY,          -- taken from evidence_packages_id_seq under the lock
    alert_id      bigint      NOT NULL REFERENCES alerts (id),
    enterprise_id text,
    canonical     text        NOT NULL,             -- the package: canonical JSON (sorted keys, no whitespace)
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL,
    chain_seq     bigint      NOT NULL UNIQUE,
    prev_hash     text        NOT NULL,
    hash          text        NOT NULL UNIQUE
);
CREATE SEQUENCE evidence_packages_id_seq OWNED BY evidence_packages.id;
CREATE INDEX evidence_packages_alert_idx ON evidence_packages (alert_id);

-- Append-only: a correction is a new 'reversal' entry referencing the one it reverses.
-- points are signed: deductions negative, repairs positive, a reversal the opposite of
-- the entry it reverses. score_after / level_after: the enterprise's standing right
-- after the entry (the same formula as credit_scores).
CREATE TABLE credit_ledger (
    id            bigint      PRIMARY KEY,          -- taken from credit_ledger_id_seq under the lock: id order is commit order
    enterprise_id text        NOT NULL,
    entry_type    text        NOT NULL CHECK (entry_type IN ('deduction', 'repair', 'reversal')),
    points        integer     NOT NULL,
    score_after   integer     NOT NULL CHECK (score_after BETWEEN 0 AND 100),
    level_after   text        NOT NULL CHECK (level_after IN ('A', 'B', 'C', 'D', 'E')),
    alert_id      bigint      REFERENCES alerts (id),
    rule          text,
    severity      text,
    repeat_count  integer,                          -- earlier deductions, same enterprise and rule, in the window
    evidence_id   bigint      REFERENCES evidence_packages (id),
    ref_id        bigint      REFERENCES credit_ledger (id),  -- the entry repaired or reversed
    repair_after  timestamptz,                      -- deductions: earliest credit repair
    occurred_at   timestamptz NOT NULL,             -- the violation's start; for others, when the entry took effect
    reason        text        NOT NULL,
    actor         jsonb       NOT NULL,             -- {"token_id", "role", "label"}
    created_at    timestamptz NOT NULL,
    chain_seq     bigint      NOT NULL UNIQUE,
    prev_hash     text        NOT NULL,
    hash          text        NOT NULL UNIQUE,
    CHECK ((entry_type = 'deduction') = (ref_id IS NULL)),
    CHECK (entry_type <> 'deduction' OR points <= 0),
    CHECK (entry_type <> 'repair' OR points >= 0)
);
CREATE SEQUENCE credit_ledger_id_seq OWNED BY credit_ledger.id;
CREATE UNIQUE INDEX credit_ledger_one_reversal_idx ON credit_ledger (ref_id) WHERE entry_type = 'reversal';
CREATE INDEX credit_ledger_ref_idx ON credit_ledger (ref_id);
CREATE INDEX credit_ledger_enterprise_idx ON credit_ledger (enterprise_id, id);
CREATE INDEX credit_ledger_rule_idx ON credit_ledger (enterprise_id, rule, occurred_at);
CREATE INDEX credit_ledger_created_idx ON credit_ledger (created_at, id);
CREATE INDEX credit_ledger_alert_idx ON credit_ledger (alert_id);

CREATE FUNCTION credit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP
        USING HINT = 'correct a ledger entry with a reversal entry that references it';
END
$$;

CREATE TRIGGER credit_ledger_append_only BEFORE UPDATE OR DELETE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION credit_reject_change();
CREATE TRIGGER credit_ledger_no_truncate BEFORE TRUNCATE ON credit_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION credit_reject_change();
CREATE TRIGGER evidence_packages_append_only BEFORE UPDATE OR DELETE ON evidence_packages
    FOR EACH ROW EXECUTE FUNCTION credit_reject_change();
CREATE TRIGGER evidence_packages_no_truncate BEFORE TRUNCATE ON evidence_packages
    FOR EACH STATEMENT EXECUTE FUNCTION credit_reject_change();

-- Hebei (2024): A >= 85, B 70-84, C 50-69, D 30-49, E <= 29 on 100 points.
CREATE FUNCTION credit_level(score integer) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN score >= 85 THEN 'A' WHEN score >= 70 THEN 'B' WHEN score >= 50 THEN 'C'
                WHEN score >= 30 THEN 'D' ELSE 'E' END
$$;

-- Score = 100 + the sum of the ledger's signed points, clamped to 0..100. Enterprises
-- without any ledger entry are not listed: they stand at 100 (A).
-- Other components (the enforcement queue) read exactly these columns.
CREATE VIEW credit_scores AS
SELECT enterprise_id, score, credit_level(score) AS level
FROM (SELECT enterprise_id, greatest(0, least(100, 100 + sum(points)))::integer AS score
      FROM credit_ledger GROUP BY enterprise_id) s;
