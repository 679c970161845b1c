-- Where each Postgres projection stands in the event log, and the messages it
-- parked. A projection updates its rows and its checkpoint in one transaction.
CREATE TABLE projection_checkpoints (
    name       text PRIMARY KEY,
    seq        bigint NOT NULL DEFAULT 0 CHECK (seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Poison messages (not an envelope, unknown type or version, data not matching
-- its schema), kept with their stream sequence for inspection.
CREATE TABLE parked_events (
    projection text NOT NULL,
    seq        bigint NOT NULL,
    subject    text NOT NULL,
    reason     text NOT NULL,
    detail     text NOT NULL,
    payload    bytea NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, seq)
);
