-- Maintenance approval (CONTRACT section 8, 1.1): a declaration suppresses rules only once it
-- is approved. An enterprise's declaration is approved on creation when it starts no earlier
-- than `grace` before it was made and lasts at most `max_hours`; any other waits for an
-- officer ('pending'), who approves or rejects it with a reason. Rows declared before this
-- migration keep their effect ('approved').

ALTER TABLE maintenance
    ADD COLUMN status text NOT NULL DEFAULT 'approved'
        CHECK (status IN ('pending', 'approved', 'rejected')),
    ADD COLUMN decided_by_token bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN decision_reason text,
    -- why a declaration waits: 'retroactive' (starts before created_at - grace),
    -- 'too_long' (longer than max_hours), or both, comma-separated
    ADD COLUMN pending_reason text;

CREATE INDEX maintenance_pending_idx ON maintenance (created_at) WHERE status = 'pending';

-- The audit trail of each declaration: declared, approved, rejected (who, when, why).
CREATE TABLE maintenance_events (
    id             bigserial   PRIMARY KEY,
    maintenance_id bigint      NOT NULL REFERENCES maintenance (id) ON DELETE CASCADE,
    action         text        NOT NULL CHECK (action IN ('declared', 'approved', 'rejected')),
    actor_role     text        NOT NULL,
    actor_token    bigint      REFERENCES api_tokens (id) ON DELETE SET NULL,
    actor_label    text        NOT NULL DEFAULT '',
    reason         text,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX maintenance_events_maintenance_idx ON maintenance_events (maintenance_id, id);

-- Re-evaluate the covered span when a declaration is approved (or its window changes): an
-- approved declaration now suppresses what it covers, and alerts it covers are retired.
DROP TRIGGER maintenance_queue_eval ON maintenance;
CREATE TRIGGER maintenance_queue_eval AFTER INSERT OR UPDATE OF device_id, start_ts, end_ts, status
    ON maintenance FOR EACH ROW EXECUTE FUNCTION maintenance_queue_eval();
