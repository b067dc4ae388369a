"""The hash chain in PostgreSQL: the SQL that installs the chain's table, its link
function and the trigger that chains each inserted event, and the backfill that
chains events stored before it (the same computation as `infra.audit.chain.link`).
"""

from __future__ import annotations

__all__ = ["CHAIN_BACKFILL_SQL", "CHAIN_LOCK_KEY", "CHAIN_SQL"]

# The key of the transaction-level advisory lock the trigger takes (b"leadchn1" as int8).
CHAIN_LOCK_KEY = int.from_bytes(b"leadchn1", "big")

# PostgreSQL 15, no extensions. `{events_table}` is the (quoted, optionally
# schema-qualified) events table: format it with psycopg's
# sql.SQL(CHAIN_SQL).format(events_table=sql.Identifier(...)) or str.format.
# Idempotent; run it before the first event is written (or run CHAIN_BACKFILL_SQL).
CHAIN_SQL = """\
CREATE TABLE IF NOT EXISTS event_chain (
    position bigint PRIMARY KEY,
    hash bytea NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE OR REPLACE FUNCTION event_chain_link(
    p_previous bytea,
    p_position bigint,
    p_originator_id uuid,
    p_originator_version bigint,
    p_topic text,
    p_state bytea
) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN sha256(
    p_previous
    || int8send(p_position)
    || uuid_send(p_originator_id)
    || int8send(p_originator_version)
    || int4send(octet_length(convert_to(p_topic, 'UTF8')))
    || convert_to(p_topic, 'UTF8')
    || int8send(octet_length(p_state)::bigint)
    || p_state
);

CREATE OR REPLACE FUNCTION event_chain_append() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    last_position bigint;
    last_hash bytea;
    positions bigint[] := ARRAY[]::bigint[];
    hashes bytea[] := ARRAY[]::bytea[];
BEGIN
    PERFORM pg_advisory_xact_lock(7810756212536405553);
    SELECT c.position, c.hash INTO last_position, last_hash
        FROM event_chain AS c
        ORDER BY c.position DESC
        LIMIT 1;
    FOR r IN SELECT * FROM appended ORDER BY notification_id LOOP
        IF last_position >= r.notification_id THEN
            RAISE EXCEPTION USING MESSAGE =
                'event_chain: position ' || r.notification_id
                || ' is not after the end of the chain (' || last_position || ')';
        END IF;
        last_hash := event_chain_link(
            coalesce(last_hash, decode(repeat('00', 32), 'hex')),
            r.notification_id,
            r.originator_id,
            r.originator_version::bigint,
            r.topic,
            r.state
        );
        last_position := r.notification_id;
        positions := array_append(positions, r.notification_id);
        hashes := array_append(hashes, last_hash);
    END LOOP;
    INSERT INTO event_chain (position, hash) SELECT * FROM unnest(positions, hashes);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER event_chain_append
    AFTER INSERT ON {events_table}
    REFERENCING NEW TABLE AS appended
    FOR EACH STATEMENT EXECUTE FUNCTION event_chain_append();
"""

# Chains the events stored after the end of the chain (all of them on a store that
# predates CHAIN_SQL); a no-op when the chain is up to date. Run after CHAIN_SQL, in
# the same transaction. It vouches for whatever the table holds when it runs.
CHAIN_BACKFILL_SQL = """\
DO $$
DECLARE
    r record;
    last_position bigint;
    last_hash bytea;
BEGIN
    LOCK TABLE {events_table} IN EXCLUSIVE MODE;
    PERFORM pg_advisory_xact_lock(7810756212536405553);
    SELECT c.position, c.hash INTO last_position, last_hash
        FROM event_chain AS c
        ORDER BY c.position DESC
        LIMIT 1;
    FOR r IN
        SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state
            FROM {events_table} AS e
            WHERE last_position IS NULL OR e.notification_id > last_position
            ORDER BY e.notification_id
    LOOP
        last_hash := event_chain_link(
            coalesce(last_hash, decode(repeat('00', 32), 'hex')),
            r.notification_id,
            r.originator_id,
            r.originator_version::bigint,
            r.topic,
            r.state
        );
        INSERT INTO event_chain (position, hash) VALUES (r.notification_id, last_hash);
    END LOOP;
END
$$;
"""
