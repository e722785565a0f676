-- Rectification (整改) to closure (CONTRACT section 9): an officer orders it on an alert with
-- a due date and requirements; the enterprise submits text and files; an officer verifies
-- (optionally with a data check: the rule has not recurred for N days) or rejects it.
-- Status ordered -> submitted -> verified | rejected; overdue once due passes unverified.
-- One book per enterprise ("问题台账"): GET /rectifications?enterprise_id=.

CREATE TABLE rectifications (
    id               bigserial   PRIMARY KEY,
    alert_id         bigint      NOT NULL REFERENCES alerts (id),
    enterprise_id    text        NOT NULL,
    rule             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'ordered'
                                 CHECK (status IN ('ordered', 'submitted', 'verified', 'rejected')),
    requirements     text        NOT NULL CHECK (length(requirements) BETWEEN 1 AND 5000),
    due_at           timestamptz NOT NULL,
    ordered_by_token bigint      REFERENCES api_tokens (id),
    ordered_by_label text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    submitted_at     timestamptz,                       -- latest submission
    decided_at       timestamptz,                       -- verified or rejected
    decided_by_token bigint      REFERENCES api_tokens (id),
    decided_by_label text,
    decision_reason  text,
    data_check       jsonb,                             -- verify: {days, since, until, recurred, alert_ids}
    overdue_at       timestamptz,                       -- when it was first found overdue (escalated)
    reminded_at      timestamptz,                       -- reminder sent to the enterprise before due
    CHECK ((status IN ('verified', 'rejected')) = (decided_at IS NOT NULL))
);
-- At most one rectification in progress per alert.
CREATE UNIQUE INDEX rectifications_open_idx ON rectifications (alert_id)
    WHERE status IN ('ordered', 'submitted');
CREATE INDEX rectifications_enterprise_idx ON rectifications (enterprise_id, id);
CREATE INDEX rectifications_due_idx ON rectifications (due_at) WHERE status IN ('ordered', 'submitted');

-- What the enterprise submitted: text and attachments (ids, names, types, sizes and SHA-256
-- of rows in ``attachments``); each submission is also kept in the hash chain
-- (evidence_packages kind 'rectification_submission', ``evidence_id``).
CREATE TABLE rectification_submissions (
    id                bigserial   PRIMARY KEY,
    rectification_id  bigint      NOT NULL REFERENCES rectifications (id),
    body              text        NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    attachments       jsonb       NOT NULL DEFAULT '[]'::jsonb,
    evidence_id       bigint      REFERENCES evidence_packages (id),
    author_token      bigint      REFERENCES api_tokens (id),
    author_label      text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rectification_submissions_idx ON rectification_submissions (rectification_id, id);

-- The rectification's trail (append-only): ordered, submitted, verified, rejected, overdue,
-- reminded; who, when, why.
CREATE TABLE rectification_events (
    id                bigserial   PRIMARY KEY,
    rectification_id  bigint      NOT NULL REFERENCES rectifications (id),
    action            text        NOT NULL CHECK (action IN (
        'ordered', 'submitted', 'verified', 'rejected', 'overdue', 'reminded')),
    actor_role        text        NOT NULL,
    actor_token       bigint      REFERENCES api_tokens (id),
    actor_label       text        NOT NULL DEFAULT '',
    reason            text,
    data              jsonb       NOT NULL DEFAULT '{}'::jsonb,
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rectification_events_idx ON rectification_events (rectification_id, id);
CREATE TRIGGER rectification_events_append_only BEFORE UPDATE OR DELETE ON rectification_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_reject_change();
CREATE TRIGGER rectification_submissions_append_only BEFORE UPDATE OR DELETE ON rectification_submissions
    FOR EACH ROW EXECUTE FUNCTION alert_events_reject_change();
