-- The event history read model: one row per domain event, for "what happened to
-- this user / agent / session" queries. Rebuilt from BAMF_EVENTS by
-- `bamf-api projections rebuild`.
CREATE TABLE event_history (
    seq          bigint PRIMARY KEY,
    event_id     text NOT NULL,
    event_type   text NOT NULL,
    version      integer NOT NULL,
    occurred_at  timestamptz NOT NULL,
    actor_kind   text NOT NULL,
    actor_id     text NOT NULL,
    subject_kind text NOT NULL,
    subject_id   text NOT NULL,
    request_id   text
);

CREATE INDEX event_history_subject ON event_history (subject_kind, subject_id, seq);
CREATE INDEX event_history_time ON event_history (occurred_at);
