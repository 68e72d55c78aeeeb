// The PostgreSQL schema of the event store, created idempotently by `migrate()`.
//
// Append is one plpgsql function call (one round trip, atomic even in autocommit): it locks the
// stream row, treats a retried batch of known ids as a no-op, enforces the expected version
// (number / any / no-stream / exists) and reports the actual version on conflict.
//
// Every event row stores the id of the transaction that wrote it (`tx xid8`). Global readers only
// read rows with `tx < pg_snapshot_xmin(pg_current_snapshot())`, in `(tx, position)` order: all
// transactions below the snapshot's xmin have finished, so a transaction that commits late can
// never be skipped (the approach of Emmett PR #336).

/** @internal */
export function schemaSql(s: string): string {
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.bw_events (
  position bigserial PRIMARY KEY,
  tx xid8 NOT NULL DEFAULT pg_current_xact_id(),
  stream text NOT NULL,
  version integer NOT NULL,
  id text NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  schema_version integer NOT NULL,
  ts bigint NOT NULL,
  CONSTRAINT bw_events_stream_version UNIQUE (stream, version),
  CONSTRAINT bw_events_id UNIQUE (id)
);
CREATE INDEX IF NOT EXISTS bw_events_tx_position ON ${s}.bw_events (tx, position);
CREATE TABLE IF NOT EXISTS ${s}.bw_streams (stream text PRIMARY KEY, version integer NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.bw_checkpoints (
  name text PRIMARY KEY,
  position bigint NOT NULL,
  tx xid8 NOT NULL,
  updated_at bigint NOT NULL
);
CREATE OR REPLACE FUNCTION ${s}.bw_append(p_stream text, p_expected bigint, p_events jsonb, p_ts bigint, p_check_ids boolean)
RETURNS TABLE (r_version integer, r_positions bigint[]) LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := jsonb_array_length(p_events);
  cur integer;
  found_stream boolean;
  found_count integer;
  ok_count integer;
  offsets integer;
  max_version integer;
  old_positions bigint[];
  bad_id text;
BEGIN
  LOOP
    SELECT version INTO cur FROM ${s}.bw_streams WHERE stream = p_stream FOR UPDATE;
    found_stream := FOUND;
    IF NOT found_stream THEN cur := 0; END IF;
    IF p_check_ids THEN
      SELECT count(*),
             count(*) FILTER (WHERE ev.stream = p_stream AND ev.type = inp.e->>'type'
                              AND ev.data = inp.e->'data' AND ev.metadata = inp.e->'metadata'),
             count(DISTINCT ev.version - inp.ord), max(ev.version),
             array_agg(ev.position ORDER BY inp.ord), min(ev.id)
        INTO found_count, ok_count, offsets, max_version, old_positions, bad_id
        FROM jsonb_array_elements(p_events) WITH ORDINALITY AS inp(e, ord)
        JOIN ${s}.bw_events ev ON ev.id = inp.e->>'id';
      IF found_count > 0 THEN
        IF found_count = n AND ok_count = n AND offsets = 1 THEN
          RETURN QUERY SELECT max_version, old_positions;
          RETURN;
        END IF;
        RAISE EXCEPTION 'breakwater: duplicate event id' USING HINT = 'breakwater:duplicate', DETAIL = bad_id;
      END IF;
    END IF;
    IF (p_expected >= 0 AND cur <> p_expected) OR (p_expected = -2 AND cur <> 0) OR (p_expected = -3 AND cur = 0) THEN
      RAISE EXCEPTION 'breakwater: concurrency conflict' USING HINT = 'breakwater:concurrency', DETAIL = cur::text;
    END IF;
    IF n = 0 THEN
      RETURN QUERY SELECT cur, ARRAY[]::bigint[];
      RETURN;
    END IF;
    IF found_stream THEN
      UPDATE ${s}.bw_streams SET version = cur + n WHERE stream = p_stream;
      EXIT;
    END IF;
    INSERT INTO ${s}.bw_streams (stream, version) VALUES (p_stream, n) ON CONFLICT DO NOTHING;
    EXIT WHEN FOUND;
    -- Another transaction created the stream meanwhile: lock it and check again.
  END LOOP;
  RETURN QUERY WITH ins AS (
    INSERT INTO ${s}.bw_events (stream, version, id, type, data, metadata, schema_version, ts)
    SELECT p_stream, cur + t.ord::integer, t.e->>'id', t.e->>'type', t.e->'data', t.e->'metadata',
           (t.e->>'schema')::integer, p_ts
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, ord) ORDER BY t.ord
    RETURNING position, version)
  SELECT cur + n, array_agg(ins.position ORDER BY ins.version) FROM ins;
END
$fn$;`;
}
