-- Confirmed violations, one definition for every reader: unreversed ledger entries that
-- record a confirmed violation, with points (deduction) or without (first_offence, 首违不罚).
-- The credit ledger's repeat count and the alert workflow's first-offence check both read
-- this view, so the workflow does not depend on the credit package's code.
CREATE VIEW credit_violations AS
SELECT d.id, d.enterprise_id, d.rule, d.entry_type, d.alert_id, d.occurred_at, d.points
FROM credit_ledger d
WHERE d.entry_type IN ('deduction', 'first_offence')
  AND NOT EXISTS (SELECT 1 FROM credit_ledger r WHERE r.ref_id = d.id AND r.entry_type = 'reversal');
