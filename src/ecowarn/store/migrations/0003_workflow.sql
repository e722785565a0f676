-- From alert to action: the alert lifecycle (alerts/model.py), its append-only audit
-- trail, comments, enterprise answers, assignment and claims, escalation, repeat
-- episodes, answer deadlines and dispositions. See docs/enforcement.md.

ALTER TABLE alerts
    ADD COLUMN assignee_token     bigint      REFERENCES api_tokens (id),
    ADD COLUMN assignee_label     text,                 -- the token's label when assigned
    ADD COLUMN claimed_at         timestamptz,          -- when the current assignee took it
    ADD COLUMN acknowledged_at    timestamptz,
    ADD COLUMN dispatched_at      timestamptz,          -- notice to the enterprise
    ADD COLUMN due_at             timestamptz,          -- the enterprise's answer deadline
    ADD COLUMN decided_at         timestamptz,          -- confirmed or dismissed
    ADD COLUMN closed_at          timestamptz,
    ADD COLUMN disposition        text,
    ADD COLUMN disposition_reason text,
    ADD COLUMN escalated_at       timestamptz,          -- latest escalation
    ADD COLUMN escalation_level   smallint    NOT NULL DEFAULT 0,
    ADD COLUMN repeat_count       integer     NOT NULL DEFAULT 0,   -- live rows in alert_episodes
    ADD COLUMN last_repeat_at     timestamptz,
    ADD CONSTRAINT alerts_status_check CHECK (status IN (
        'open', 'acknowledged', 'dispatched', 'confirmed', 'dismissed', 'closed', 'superseded')),
    ADD CONSTRAINT alerts_disposition_check CHECK (disposition IS NULL OR disposition IN (
        'case_filed', 'rectification_ordered', 'explanation_accepted', 'false_alarm')),
    ADD CONSTRAINT alerts_closed_has_disposition CHECK (status <> 'closed' OR disposition IS NOT NULL),
    ADD CONSTRAINT alerts_claim_has_assignee CHECK (claimed_at IS NULL OR assignee_token IS NOT NULL);

-- The officers' queue reads work still to do; the escalator reads unacknowledged alerts.
CREATE INDEX alerts_active_idx ON alerts (status, id) WHERE status NOT IN ('closed', 'superseded');
CREATE INDEX alerts_unacknowledged_idx ON alerts (created_at) WHERE status = 'open';
CREATE INDEX alerts_assignee_idx ON alerts (assignee_token) WHERE assignee_token IS NOT NULL;
-- Labels for detector tuning: closed alerts with their disposition.
CREATE INDEX alerts_closed_idx ON alerts (id) WHERE status = 'closed';
-- Repetition: alerts of one enterprise and rule in the last 90 days.
CREATE INDEX alerts_enterprise_rule_idx ON alerts (enterprise_id, rule, start_ts);

-- Every state change of an alert and every step taken on it, by whom, when, why.
-- Append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE alert_events (
    id           bigserial   PRIMARY KEY,
    alert_id     bigint      NOT NULL REFERENCES alerts (id),
    at           timestamptz NOT NULL DEFAULT now(),
    kind         text        NOT NULL CHECK (kind IN (
        'opened', 'transition', 'claim', 'assign', 'comment', 'answer', 'escalated',
        'repeat', 'superseded')),
    action       text,                                  -- transitions: acknowledge | dispatch | ...
    from_status  text,
    to_status    text,
    actor_token  bigint      REFERENCES api_tokens (id),
    actor_role   text        NOT NULL CHECK (actor_role IN ('officer', 'enterprise', 'admin', 'system')),
    actor_label  text        NOT NULL DEFAULT '',       -- the token's label at that time
    reason       text,
    disposition  text,
    public       boolean     NOT NULL,                  -- shown to the alert's enterprise
    data         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    CHECK ((actor_role = 'system') = (actor_token IS NULL))
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, id);

CREATE FUNCTION alert_events_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_events is append-only: % rejected', TG_OP;
END
$$;
CREATE TRIGGER alert_events_append_only BEFORE UPDATE OR DELETE ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_reject_change();
CREATE TRIGGER alert_events_no_truncate BEFORE TRUNCATE ON alert_events
    FOR EACH STATEMENT EXECUTE FUNCTION alert_events_reject_change();

-- Officers' notes; ``public`` ones are shown to the enterprise (e.g. a request for documents).
CREATE TABLE alert_comments (
    id           bigserial   PRIMARY KEY,
    alert_id     bigint      NOT NULL REFERENCES alerts (id),
    author_token bigint      NOT NULL REFERENCES api_tokens (id),
    author_role  text        NOT NULL,
    author_label text        NOT NULL DEFAULT '',
    body         text        NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    public       boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_comments_alert_idx ON alert_comments (alert_id, id);

-- The enterprise's answers (state its case, art. 41): an explanation, declared
-- maintenance (may create a ``maintenance`` row), or rectification done.
CREATE TABLE alert_answers (
    id             bigserial   PRIMARY KEY,
    alert_id       bigint      NOT NULL REFERENCES alerts (id),
    enterprise_id  text,
    kind           text        NOT NULL CHECK (kind IN ('explanation', 'maintenance_declared',
                                                        'rectification_done')),
    body           text        NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    attachments    text[]      NOT NULL DEFAULT '{}',   -- references (document ids, URLs), not files
    maintenance_id bigint      REFERENCES maintenance (id),
    author_token   bigint      NOT NULL REFERENCES api_tokens (id),
    author_role    text        NOT NULL,
    author_label   text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (maintenance_id IS NULL OR kind = 'maintenance_declared')
);
CREATE INDEX alert_answers_alert_idx ON alert_answers (alert_id, id);

-- Repeat episodes: a new episode of the same rule and subject found while an earlier
-- alert of it is being worked (acknowledged or dispatched) is recorded here against
-- that alert instead of opening a new one. ``merged`` episodes were joined to their
-- alert's own episode (or another repeat) by late data.
CREATE TABLE alert_episodes (
    id          bigserial   PRIMARY KEY,
    alert_id    bigint      NOT NULL REFERENCES alerts (id),
    rule        text        NOT NULL,
    subject     text        NOT NULL,
    device_ids  text[]      NOT NULL,
    start_ts    timestamptz NOT NULL,
    end_ts      timestamptz,                            -- null while the condition lasts
    severity    text        NOT NULL,
    summary     text        NOT NULL,
    summary_zh  text        NOT NULL,
    evidence    jsonb       NOT NULL,
    merged      boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (end_ts IS NULL OR end_ts >= start_ts)
);
CREATE INDEX alert_episodes_subject_idx ON alert_episodes (rule, subject, start_ts) WHERE NOT merged;
CREATE INDEX alert_episodes_alert_idx ON alert_episodes (alert_id, start_ts);
