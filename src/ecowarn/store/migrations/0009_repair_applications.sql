-- Credit repair by application (信用修复申请, CONTRACT section 9): the enterprise applies for the
-- repair of one of its deductions with a commitment (信用修复承诺书) and proof; an officer
-- approves (a 'repair' ledger entry restores the points) or rejects it (a 'repair_rejection'
-- entry) with a reason. Filing writes a 'repair_application' ledger entry and keeps the
-- filed document in the hash chain (evidence_packages kind 'repair_application'). An
-- application can be filed from ``allowed_from``: the deduction's minimum publication
-- period (config/credit.yaml repair_publication) counted from when it was recorded.
-- See docs/credit.md.

CREATE TABLE repair_applications (
    id                   bigserial   PRIMARY KEY,
    enterprise_id        text        NOT NULL,
    entry_id             bigint      NOT NULL REFERENCES credit_ledger (id),   -- the deduction
    commitment           text        NOT NULL CHECK (length(commitment) BETWEEN 1 AND 5000),
    -- files: {id, filename, content_type, size, sha256} of rows in ``attachments``;
    -- references: {reference}
    attachments          jsonb       NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(attachments) = 'array'),
    status               text        NOT NULL DEFAULT 'pending'
                                     CHECK (status IN ('pending', 'approved', 'rejected')),
    publication          text        NOT NULL CHECK (publication IN ('ordinary', 'serious')),
    allowed_from         timestamptz NOT NULL,        -- end of the minimum publication period
    applicant_token      bigint      REFERENCES api_tokens (id),
    applicant_label      text        NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL DEFAULT now(),
    decided_at           timestamptz,
    decided_by_token     bigint      REFERENCES api_tokens (id),
    decided_by_label     text,
    decision_reason      text        CHECK (length(decision_reason) BETWEEN 1 AND 2000),
    application_entry_id bigint      NOT NULL REFERENCES credit_ledger (id),   -- 'repair_application'
    decision_entry_id    bigint      REFERENCES credit_ledger (id),            -- 'repair' or 'repair_rejection'
    evidence_id          bigint      NOT NULL REFERENCES evidence_packages (id),
    CHECK ((status = 'pending') = (decided_at IS NULL)),
    CHECK ((status = 'pending') = (decision_entry_id IS NULL)),
    CHECK ((status = 'pending') = (decision_reason IS NULL))
);
-- At most one pending application per deduction.
CREATE UNIQUE INDEX repair_applications_pending_idx ON repair_applications (entry_id)
    WHERE status = 'pending';
CREATE INDEX repair_applications_enterprise_idx ON repair_applications (enterprise_id, id);
CREATE INDEX repair_applications_status_idx ON repair_applications (status, id);
