-- Credit evaluations (CONTRACT section 9): an officer's initial ("health check") or periodic
-- evaluation of an enterprise against a catalog (src/ecowarn/config/credit_catalog_*.yaml).
-- See docs/credit.md, "Evaluations".
--
-- An evaluation is also a ledger entry of type 'evaluation' (no ref_id), in the hash chain and
-- the credit feed. Its points reset the base: points = evaluation score - (100 + the raw sum of
-- the enterprise's points before it), so right after it the score (100 + sum, clamped to
-- 0..100: credit_scores) is exactly the evaluation's score, and later entries move it from
-- there. "Latest evaluation + ledger since" holds by construction, and a consumer of the feed
-- rebuilds every score from the points alone.
ALTER TABLE credit_ledger
    DROP CONSTRAINT credit_ledger_entry_type_check,
    ADD CONSTRAINT credit_ledger_entry_type_check CHECK (entry_type IN (
        'deduction', 'repair', 'reversal', 'first_offence', 'repair_application',
        'repair_rejection', 'evaluation')),
    DROP CONSTRAINT credit_ledger_ref_check,
    ADD CONSTRAINT credit_ledger_ref_check CHECK (
        (entry_type IN ('deduction', 'first_offence', 'evaluation')) = (ref_id IS NULL));

-- One row per evaluation, never changed. ``items``: the items the officer recorded, each with
-- what the catalog said of it at the time ({item, category, category_name, name, kind,
-- max_points, points, note, evidence}); ``document``: the canonical JSON of the whole evaluation
-- (the catalog's checklist included), whose SHA-256 the ledger entry's reason carries, so the
-- hash chain covers it. ``scheme``/``level``: the level scheme active when it was recorded and
-- the score's level in it.
CREATE TABLE evaluations (
    id             bigint      PRIMARY KEY,          -- from evaluations_id_seq, taken under the chain lock
    enterprise_id  text        NOT NULL,
    kind           text        NOT NULL CHECK (kind IN ('initial', 'periodic')),
    catalog        text        NOT NULL,
    scheme         text        NOT NULL,
    items          jsonb       NOT NULL CHECK (jsonb_typeof(items) = 'array'),
    base           integer     NOT NULL CHECK (base BETWEEN 0 AND 100),
    deductions     integer     NOT NULL CHECK (deductions <= 0),
    bonuses        integer     NOT NULL CHECK (bonuses >= 0),
    score          integer     NOT NULL CHECK (score BETWEEN 0 AND 100),
    level          text        NOT NULL,
    entry_id       bigint      NOT NULL UNIQUE REFERENCES credit_ledger (id),
    document       text        NOT NULL,
    sha256         text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    officer_token  bigint      REFERENCES api_tokens (id),
    officer_label  text        NOT NULL DEFAULT '',
    evaluated_at   timestamptz NOT NULL,              -- when the evaluation was carried out
    created_at     timestamptz NOT NULL               -- when it was recorded (its ledger entry's time)
);
CREATE SEQUENCE evaluations_id_seq OWNED BY evaluations.id;
CREATE INDEX evaluations_enterprise_idx ON evaluations (enterprise_id, id);

CREATE TRIGGER evaluations_append_only BEFORE UPDATE OR DELETE ON evaluations
    FOR EACH ROW EXECUTE FUNCTION credit_reject_change();
CREATE TRIGGER evaluations_no_truncate BEFORE TRUNCATE ON evaluations
    FOR EACH STATEMENT EXECUTE FUNCTION credit_reject_change();
