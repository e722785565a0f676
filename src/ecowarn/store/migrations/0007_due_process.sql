-- Due process (CONTRACT section 9, 1.1): officers limited to a jurisdiction, the right to
-- be heard before confirmation, 首违不罚 (first offence without penalty), rectification
-- ordered while the alert stays open, uploaded files kept with their SHA-256, and the
-- credit ledger's zero-point entries. See docs/enforcement.md and docs/credit.md.

-- An officer token may be limited to the enterprises whose administrative division code
-- starts with ``region`` (130105 county, 1301 city, 13 province).
ALTER TABLE api_tokens
    ADD COLUMN region text CHECK (region ~ '^[0-9]{2,6}$'),
    ADD CONSTRAINT api_tokens_region_officer CHECK (region IS NULL OR role = 'officer');

-- 'rectifying': a rectification was ordered and is not yet verified or rejected; the alert
-- returns to ``rectifying_from`` (dispatched or confirmed) when it is.
ALTER TABLE alerts
    DROP CONSTRAINT alerts_status_check,
    ADD CONSTRAINT alerts_status_check CHECK (status IN (
        'open', 'acknowledged', 'dispatched', 'rectifying', 'confirmed', 'dismissed', 'closed',
        'superseded')),
    DROP CONSTRAINT alerts_disposition_check,
    ADD CONSTRAINT alerts_disposition_check CHECK (disposition IS NULL OR disposition IN (
        'case_filed', 'rectification_ordered', 'explanation_accepted', 'false_alarm',
        'first_offence_no_penalty')),
    ADD COLUMN rectifying_from text CHECK (rectifying_from IN ('dispatched', 'confirmed')),
    ADD CONSTRAINT alerts_rectifying_has_origin CHECK ((status = 'rectifying') = (rectifying_from IS NOT NULL));

DROP INDEX alerts_active_idx;
CREATE INDEX alerts_active_idx ON alerts (status, id) WHERE status NOT IN ('closed', 'superseded');

-- An officer has seen an answer once an officer token read it (GET answers, or the alert's
-- console page); the first reading is kept here and as an 'answers_read' audit event.
ALTER TABLE alert_answers
    ADD COLUMN first_read_at    timestamptz,
    ADD COLUMN first_read_token bigint REFERENCES api_tokens (id);

ALTER TABLE alert_events
    DROP CONSTRAINT alert_events_kind_check,
    ADD CONSTRAINT alert_events_kind_check CHECK (kind IN (
        'opened', 'transition', 'claim', 'assign', 'comment', 'answer', 'escalated',
        'repeat', 'superseded', 'answers_read', 'rectification'));

-- Documents kept in the hash chain besides an alert's evidence: a rectification
-- submission, a credit repair application and its decision. ``kind`` is also inside the
-- canonical JSON, so the hash covers it.
ALTER TABLE evidence_packages
    ADD COLUMN kind text NOT NULL DEFAULT 'alert'
        CHECK (kind IN ('alert', 'rectification_submission', 'repair_application'));

-- Credit ledger, zero-point entries:
--   first_offence       首违不罚: a confirmed violation without penalty; counts in later
--                       first-offence and repeat checks (no ref_id, like a deduction)
--   repair_application  the enterprise applied for credit repair of entry ref_id
--   repair_rejection    an officer rejected that application (approval writes a 'repair')
ALTER TABLE credit_ledger
    DROP CONSTRAINT credit_ledger_entry_type_check,
    ADD CONSTRAINT credit_ledger_entry_type_check CHECK (entry_type IN (
        'deduction', 'repair', 'reversal', 'first_offence', 'repair_application',
        'repair_rejection')),
    DROP CONSTRAINT credit_ledger_check,
    ADD CONSTRAINT credit_ledger_ref_check CHECK (
        (entry_type IN ('deduction', 'first_offence')) = (ref_id IS NULL)),
    ADD CONSTRAINT credit_ledger_zero_points_check CHECK (
        entry_type NOT IN ('first_offence', 'repair_application', 'repair_rejection') OR points = 0);

-- Files uploaded by enterprises (rectification proof, repair applications). Content is
-- stored once per row with its SHA-256; rows are never changed.
CREATE TABLE attachments (
    id            bigserial   PRIMARY KEY,
    enterprise_id text        NOT NULL,
    filename      text        NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    content_type  text        NOT NULL,
    size          integer     NOT NULL CHECK (size >= 0),
    sha256        text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content       bytea       NOT NULL,
    uploaded_by   bigint      REFERENCES api_tokens (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (octet_length(content) = size)
);
CREATE INDEX attachments_enterprise_idx ON attachments (enterprise_id, id);
CREATE TRIGGER attachments_append_only BEFORE UPDATE OR DELETE ON attachments
    FOR EACH ROW EXECUTE FUNCTION credit_reject_change();
