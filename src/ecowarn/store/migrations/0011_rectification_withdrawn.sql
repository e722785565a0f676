-- A rectification in progress ends 'withdrawn' when its alert leaves the workflow without a
-- decision on it: dismissed by an officer, or superseded by the detector runner (late data
-- merged its episode into another alert). Not a judgement of what the enterprise did, so
-- neither 'verified' nor 'rejected'. See docs/enforcement.md, "Rectification".

ALTER TABLE rectifications
    DROP CONSTRAINT rectifications_status_check,
    ADD CONSTRAINT rectifications_status_check CHECK (status IN (
        'ordered', 'submitted', 'verified', 'rejected', 'withdrawn')),
    DROP CONSTRAINT rectifications_check,
    ADD CONSTRAINT rectifications_decided_check CHECK (
        (status IN ('verified', 'rejected', 'withdrawn')) = (decided_at IS NOT NULL));

ALTER TABLE rectification_events
    DROP CONSTRAINT rectification_events_action_check,
    ADD CONSTRAINT rectification_events_action_check CHECK (action IN (
        'ordered', 'submitted', 'verified', 'rejected', 'overdue', 'reminded', 'withdrawn'));
