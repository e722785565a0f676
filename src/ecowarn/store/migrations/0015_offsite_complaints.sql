-- Off-site handling of positive-listed firms and complaints (docs/credit.md, "Supervision";
-- docs/enforcement.md, "Remote verification").

-- Remote verifications (远程核查) of an alert: how an officer checked it without going on
-- site, the result and a note. Append-only: a later verification is a new row.
CREATE TABLE alert_remote_verifications (
    id            bigserial   PRIMARY KEY,
    alert_id      bigint      NOT NULL REFERENCES alerts (id),
    method        text        NOT NULL CHECK (method IN ('video_call', 'data_review', 'documents', 'other')),
    result        text        NOT NULL CHECK (result IN ('confirmed', 'not_confirmed', 'inconclusive')),
    note          text        NOT NULL CHECK (length(note) BETWEEN 1 AND 5000),
    verified_at   timestamptz NOT NULL DEFAULT now(),
    author_token  bigint      REFERENCES api_tokens (id),
    author_role   text        NOT NULL,
    author_label  text        NOT NULL DEFAULT ''
);
CREATE INDEX alert_remote_verifications_alert_idx ON alert_remote_verifications (alert_id, id);

-- Complaints (信访投诉) about an enterprise: a listed firm with a complaint received in a
-- period is back on that period's on-site plan and draws. Append-only.
CREATE TABLE complaints (
    id               bigserial   PRIMARY KEY,
    enterprise_id    text        NOT NULL,
    received_at      timestamptz NOT NULL,
    source           text        NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
    summary          text        NOT NULL CHECK (length(summary) BETWEEN 1 AND 5000),
    created_at       timestamptz NOT NULL DEFAULT now(),
    created_by_token bigint      REFERENCES api_tokens (id),
    created_by_role  text        NOT NULL,
    created_by_label text        NOT NULL DEFAULT ''
);
CREATE INDEX complaints_enterprise_idx ON complaints (enterprise_id, received_at);

CREATE FUNCTION offsite_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % rejected', TG_TABLE_NAME, TG_OP
        USING HINT = 'record a new row instead';
END
$$;

CREATE TRIGGER alert_remote_verifications_append_only BEFORE UPDATE OR DELETE ON alert_remote_verifications
    FOR EACH ROW EXECUTE FUNCTION offsite_reject_change();
CREATE TRIGGER alert_remote_verifications_no_truncate BEFORE TRUNCATE ON alert_remote_verifications
    FOR EACH STATEMENT EXECUTE FUNCTION offsite_reject_change();
CREATE TRIGGER complaints_append_only BEFORE UPDATE OR DELETE ON complaints
    FOR EACH ROW EXECUTE FUNCTION offsite_reject_change();
CREATE TRIGGER complaints_no_truncate BEFORE TRUNCATE ON complaints
    FOR EACH STATEMENT EXECUTE FUNCTION offsite_reject_change();

ALTER TABLE alert_events
    DROP CONSTRAINT alert_events_kind_check,
    ADD CONSTRAINT alert_events_kind_check CHECK (kind IN (
        'opened', 'transition', 'claim', 'assign', 'comment', 'answer', 'escalated',
        'repeat', 'superseded', 'answers_read', 'rectification', 'remote_verification'));
