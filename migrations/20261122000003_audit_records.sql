-- The audit search read model (docs/audit.md "Search"): one row per BAMF_AUDIT
-- record, for `GET /api/v1/audit` and `bamfctl audit search`. Rebuilt from
-- BAMF_AUDIT by `bamf-api projections rebuild`.
--
-- Range-partitioned by the record's time, one partition per UTC day, named
-- audit_records_pYYYYMMDD and created on demand by the projection (in the
-- transaction that inserts the day's first record). Retention
-- (`audit_search_retention`) drops whole day partitions.
CREATE TABLE audit_records (
    -- BAMF_AUDIT stream sequence.
    seq           bigint NOT NULL,
    -- The envelope's id (ULID).
    record_id     text NOT NULL,
    -- The envelope's time: the partition key.
    occurred_at   timestamptz NOT NULL,
    -- The record's type, e.g. session.granted.
    action        text NOT NULL,
    version       integer NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('success', 'failure')),
    actor_kind    text NOT NULL,
    actor_id      text NOT NULL,
    actor_email   text,
    actor_address text,
    target_kind   text NOT NULL,
    target_id     text NOT NULL,
    -- The resource the record is about, where it has one.
    resource      text,
    request_id    text,
    reason        text,
    -- The message payload verbatim (what the seals cover).
    record        text NOT NULL,
    PRIMARY KEY (occurred_at, seq)
) PARTITION BY RANGE (occurred_at);

-- Each filter with the keyset order (occurred_at, seq), newest first.
CREATE INDEX audit_records_actor_id ON audit_records (actor_id, occurred_at, seq);
CREATE INDEX audit_records_actor_email ON audit_records (lower(actor_email), occurred_at, seq);
CREATE INDEX audit_records_action ON audit_records (action text_pattern_ops, occurred_at, seq);
CREATE INDEX audit_records_resource ON audit_records (resource, occurred_at, seq);
CREATE INDEX audit_records_outcome ON audit_records (outcome, occurred_at, seq);
-- A session's earlier records (its resource, for the records that lack one).
CREATE INDEX audit_records_target ON audit_records (target_kind, target_id);
