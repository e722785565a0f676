-- Notifications to officers and reminders to enterprises (issue 13, item 6; docs/operations.md
-- "Notifications to officers").
--
-- Officers: new high-severity alerts, escalations, overdue rectifications and maintenance
-- declarations awaiting approval go to the channels of the file in ECOWARN_OFFICER_CHANNELS
-- (IM group robots, relays), routed by region. One outbox row per (event, subject, channel):
-- a repeat scan, a restart or a second instance inserts nothing new. ``subject_id`` is what
-- the event is about: the alert (high_alert), the alert_events row of kind 'escalated' (one
-- notification per level reached), the rectification (rectification_overdue) or the
-- maintenance declaration (maintenance_pending). The channel's URL and secret stay in the
-- configuration (robot URLs carry their key), never in the database.
CREATE TABLE officer_notifications (
    id               bigserial   PRIMARY KEY,
    delivery_id      uuid        NOT NULL UNIQUE,       -- X-Ecowarn-Delivery
    event            text        NOT NULL CHECK (event IN (
        'high_alert', 'escalated', 'rectification_overdue', 'maintenance_pending')),
    subject_id       bigint      NOT NULL,
    channel          text        NOT NULL,              -- the channel's id in the configuration
    alert_id         bigint      REFERENCES alerts (id) ON DELETE CASCADE,
    enterprise_id    text,
    region           text,                              -- the enterprise's, when enqueued
    body             text        NOT NULL,              -- UTF-8 JSON as the template made it
    status           text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,              -- also the lease while an attempt runs
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event, subject_id, channel),
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX officer_notifications_due_idx ON officer_notifications (next_attempt_at, id)
    WHERE status = 'pending';
CREATE INDEX officer_notifications_enterprise_idx ON officer_notifications (enterprise_id, id);

-- Every attempt, kept (like warning_attempts).
CREATE TABLE officer_notification_attempts (
    id           bigserial   PRIMARY KEY,
    delivery     bigint      NOT NULL REFERENCES officer_notifications (id) ON DELETE CASCADE,
    attempt      integer     NOT NULL,
    started_at   timestamptz NOT NULL,
    duration_ms  integer     NOT NULL,
    status_code  integer,
    error        text,
    UNIQUE (delivery, attempt)
);

-- The escalation scan reads escalations by time.
CREATE INDEX alert_events_escalated_idx ON alert_events (at, id) WHERE kind = 'escalated';

-- Reminders to enterprises through their warning channels: before the answer deadline of a
-- dispatched alert nobody answered ('answer_reminder', once per alert), and before the due
-- date of an ordered rectification ('rectification_reminder', once per rectification: an
-- alert may have several rectifications one after the other).
ALTER TABLE warning_deliveries
    DROP CONSTRAINT warning_deliveries_event_check,
    ADD CONSTRAINT warning_deliveries_event_check CHECK (event IN (
        'opened', 'dispatched', 'answer_reminder', 'rectification_reminder')),
    ADD COLUMN rectification_id bigint REFERENCES rectifications (id) ON DELETE CASCADE,
    ADD CONSTRAINT warning_deliveries_rectification_check CHECK (
        (event = 'rectification_reminder') = (rectification_id IS NOT NULL)),
    DROP CONSTRAINT warning_deliveries_alert_id_event_channel_key,
    ADD CONSTRAINT warning_deliveries_once UNIQUE NULLS NOT DISTINCT (alert_id, event, channel, rectification_id);
