-- TaskPulse schema, version 1.
-- Instants are timestamptz (stored in UTC); zones are IANA names, never offsets.

CREATE TABLE series (
    id                  text PRIMARY KEY,
    user_id             text        NOT NULL,
    status              text        NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'ended', 'cancelled')),
    rrule               text        NOT NULL,
    timezone            text        NOT NULL,
    series_start        timestamptz NOT NULL,
    recurrence_mode     text        NOT NULL CHECK (recurrence_mode IN ('on_completion', 'on_schedule')),
    last_occurrence_at  timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer     NOT NULL DEFAULT 1
);
CREATE INDEX series_user_idx ON series (user_id);

CREATE TABLE tasks (
    id               text PRIMARY KEY,
    user_id          text        NOT NULL,
    title            text        NOT NULL,
    description      text,
    status           text        NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'completed', 'cancelled')),
    due_at           timestamptz,
    timezone         text        NOT NULL DEFAULT 'UTC',
    rrule            text,
    series_id        text REFERENCES series (id),
    series_start     timestamptz,
    occurrence_at    timestamptz,
    recurrence_mode  text        NOT NULL DEFAULT 'on_completion'
                     CHECK (recurrence_mode IN ('on_completion', 'on_schedule')),
    remind_before    interval,
    priority         text        NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high')),
    tags             text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    version          integer     NOT NULL DEFAULT 1
);
-- The user's open tasks by due time (lists, reminders).
CREATE INDEX tasks_user_status_due_idx ON tasks (user_id, status, due_at);
-- One task per occurrence of a series: the last guard against a doubled occurrence.
CREATE UNIQUE INDEX tasks_series_occurrence_uq ON tasks (series_id, occurrence_at)
    WHERE series_id IS NOT NULL;

-- Idempotency log: one row per effect; insert-first with ON CONFLICT DO NOTHING.
CREATE TABLE processed_events (
    idempotency_key  text PRIMARY KEY,
    status           text        NOT NULL CHECK (status IN ('done', 'rejected')),
    result_id        text,
    detail           text,
    processed_at     timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL
);
CREATE INDEX processed_events_expires_idx ON processed_events (expires_at);

-- Transactional outbox: events commit with the state change that caused them.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    topic            text        NOT NULL,
    partition_key    text        NOT NULL,
    event            jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    published_at     timestamptz,
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text
);
-- The relay's query: pending rows in order.
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
-- Purging published rows.
CREATE INDEX outbox_published_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
