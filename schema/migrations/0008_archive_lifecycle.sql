-- The archive stage's write: one call per report, drift_archive_report,
-- which records the report and moves its stack's drift items through their
-- lifecycle; and the grants that let the pipeline's roles run as drift_app.
--
-- Lifecycle of a drift item (one row per tenant, stack and fingerprint):
--   opens     the first successful report that contains its fingerprint;
--   updated   a later successful report contains it again: last_seen,
--             last_report and its content (severity, reasons, changes) move;
--   resolves  a later successful report of the stack does not contain it
--             (a clean report resolves every open item of its stack);
--   reopens   a report later than the resolution contains it again: a new
--             episode, first_seen and opened_by_report start over.
-- A failed report is recorded and resolves nothing. "Later" is the
-- report's receipt time, not the order of arrival here: a report replayed
-- late (or archived out of order by parallel workers) never undoes what a
-- newer one decided, and archiving the same report twice changes nothing.

-- Engines beyond terraform and tofu (CloudFormation, Pulumi) are archived too.
ALTER TABLE stacks DROP CONSTRAINT stacks_engine_known;
ALTER TABLE stacks ADD CONSTRAINT stacks_engine_format
    CHECK (engine ~ '^[a-z][a-z0-9_-]{0,31}$');

-- Dashboard question: which reports of the tenant failed, newest first.
CREATE INDEX reports_failed ON reports (tenant_id, received_at DESC) WHERE status = 'failed';

-- doc (built by actors/archive/archive_actor.c):
--   report_id, stack, engine, agent_key, status ('ok'|'failed'), reason,
--   received_us, normalized_us, scored_us (microseconds since the epoch),
--   severity, score, counts (object), object_key, key_id (both or neither),
--   items: [{fingerprint, address, type, kind, class, changes, severity,
--            score, reasons, suppressed, suppressed_by}]
-- Returns {"stack_id", "opened", "updated", "reopened", "resolved"}.
-- Runs as its caller (never SECURITY DEFINER): row-level security applies,
-- under the tenant it sets for the rest of the transaction.
CREATE FUNCTION drift_archive_report (tenant uuid, doc jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    received  timestamptz := 'epoch'::timestamptz
                           + (doc->>'received_us')::bigint * interval '1 microsecond';
    ok        boolean := doc->>'status' = 'ok';
    report    text := doc->>'report_id';
    stack     uuid;
    agent     uuid;
    fingerprints text [];
    last_success timestamptz;
    next_id   text;
    next_at   timestamptz;
    opened    integer := 0;
    updated   integer := 0;
    reopened  integer := 0;
    resolved  integer := 0;
BEGIN
    PERFORM set_config ('drift.tenant', tenant::text, true);

    SELECT a.id INTO agent FROM agents a WHERE a.public_key = doc->>'agent_key';
    IF agent IS NULL THEN
        RAISE EXCEPTION 'no agent of tenant % has the key that sent report %', tenant, report
            USING ERRCODE = 'foreign_key_violation';
    END IF;

    -- One upsert for the stack: a new one starts with this report, a known
    -- one moves only forward in time. last_success_at after it tells whether
    -- a newer successful report exists (needed below, rarely).
    INSERT INTO stacks AS s (tenant_id, name, engine, last_report_id, last_report_at,
                             last_success_at)
    VALUES (tenant, doc->>'stack', doc->>'engine', report, received,
            CASE WHEN ok THEN received END)
    ON CONFLICT (tenant_id, name) DO UPDATE
       SET last_report_id  = CASE WHEN s.last_report_at IS NULL OR received >= s.last_report_at
                                  THEN report ELSE s.last_report_id END,
           last_report_at  = greatest (s.last_report_at, received),
           last_success_at = CASE WHEN ok THEN greatest (s.last_success_at, received)
                                  ELSE s.last_success_at END,
           engine          = CASE WHEN s.last_report_at IS NULL OR received >= s.last_report_at
                                  THEN EXCLUDED.engine ELSE s.engine END
    RETURNING s.id, s.last_success_at INTO stack, last_success;

    INSERT INTO reports AS r (tenant_id, report_id, stack_id, agent_id, received_at, normalized_at,
                              scored_at, status, reason, severity, score, counts, object_key, key_id)
    VALUES (tenant, report, stack, agent, received,
            'epoch'::timestamptz + (nullif (doc->>'normalized_us', '0'))::bigint * interval '1 microsecond',
            'epoch'::timestamptz + (nullif (doc->>'scored_us', '0'))::bigint * interval '1 microsecond',
            doc->>'status', doc->>'reason', (doc->>'severity')::smallint, (doc->>'score')::real,
            doc->'counts', doc->>'object_key', doc->>'key_id')
    ON CONFLICT (tenant_id, report_id) DO UPDATE
       SET stack_id = EXCLUDED.stack_id, agent_id = EXCLUDED.agent_id,
           received_at = EXCLUDED.received_at, normalized_at = EXCLUDED.normalized_at,
           scored_at = EXCLUDED.scored_at, status = EXCLUDED.status, reason = EXCLUDED.reason,
           severity = EXCLUDED.severity, score = EXCLUDED.score, counts = EXCLUDED.counts,
           object_key = EXCLUDED.object_key, key_id = EXCLUDED.key_id;

    IF NOT ok THEN
        RETURN jsonb_build_object ('stack_id', stack, 'opened', 0, 'updated', 0,
                                   'reopened', 0, 'resolved', 0);
    END IF;

    SELECT coalesce (array_agg (x->>'fingerprint'), '{}') INTO fingerprints
      FROM jsonb_array_elements (coalesce (doc->'items', '[]')) AS x;

    -- Items back after being resolved: a new episode (counted before the
    -- upsert below, which forgets the resolution).
    SELECT count (*) INTO reopened
      FROM drift_items d
     WHERE d.tenant_id = tenant AND d.stack_id = stack AND d.fingerprint = ANY (fingerprints)
       AND d.resolved_at IS NOT NULL AND received > d.resolved_at AND received >= d.last_seen;

    -- A report archived after a newer successful one of its stack: drift
    -- it shows for the first time was gone by that newer report (which
    -- would have opened it otherwise), so it is recorded resolved by it.
    IF last_success > received THEN
        SELECT r.report_id, r.received_at INTO next_id, next_at
          FROM reports r
         WHERE r.tenant_id = tenant AND r.stack_id = stack AND r.status = 'ok'
           AND r.received_at > received
         ORDER BY r.received_at
         LIMIT 1;
    END IF;

    -- New, seen again, or back after being resolved. A sighting older than
    -- what the row already knows changes nothing.
    WITH written AS (
        INSERT INTO drift_items AS d (tenant_id, stack_id, fingerprint, address, type, kind, class,
                                      changes, severity, score, reasons, suppressed, suppressed_by,
                                      first_seen, last_seen, opened_by_report, last_report,
                                      resolved_at, resolved_by_report)
        SELECT tenant, stack, i.fingerprint, i.address, i.type, i.kind, i.class,
               coalesce (i.changes, '[]'), i.severity, i.score, coalesce (i.reasons, '[]'),
               coalesce (i.suppressed, false), CASE WHEN i.suppressed THEN i.suppressed_by END,
               received, received, report, report, next_at, next_id
          FROM (SELECT DISTINCT ON (x.fingerprint) x.*
                  FROM jsonb_to_recordset (coalesce (doc->'items', '[]')) AS x (
                       fingerprint text, address text, type text, kind text, class text,
                       changes jsonb, severity smallint, score real, reasons jsonb,
                       suppressed boolean, suppressed_by text)
                 ORDER BY x.fingerprint, x.severity DESC) AS i
        ON CONFLICT (tenant_id, stack_id, fingerprint) DO UPDATE
           SET address = EXCLUDED.address, type = EXCLUDED.type, kind = EXCLUDED.kind,
               class = EXCLUDED.class, changes = EXCLUDED.changes, severity = EXCLUDED.severity,
               score = EXCLUDED.score, reasons = EXCLUDED.reasons,
               suppressed = EXCLUDED.suppressed, suppressed_by = EXCLUDED.suppressed_by,
               last_seen = EXCLUDED.last_seen, last_report = EXCLUDED.last_report,
               first_seen = CASE WHEN d.resolved_at IS NULL THEN d.first_seen
                                 ELSE EXCLUDED.first_seen END,
               opened_by_report = CASE WHEN d.resolved_at IS NULL THEN d.opened_by_report
                                       ELSE EXCLUDED.opened_by_report END,
               resolved_at = NULL, resolved_by_report = NULL
         WHERE EXCLUDED.last_seen >= d.last_seen
           AND (d.resolved_at IS NULL OR EXCLUDED.last_seen > d.resolved_at)
        RETURNING (xmax = 0) AS inserted
    )
    SELECT count (*) FILTER (WHERE inserted), count (*) FILTER (WHERE NOT inserted) - reopened
      INTO opened, updated
      FROM written;

    -- Open items of the stack this report no longer contains, last seen
    -- before it.
    UPDATE drift_items d
       SET resolved_at = received, resolved_by_report = report
     WHERE d.tenant_id = tenant AND d.stack_id = stack AND d.resolved_at IS NULL
       AND d.last_seen < received
       AND NOT (d.fingerprint = ANY (fingerprints));
    GET DIAGNOSTICS resolved = ROW_COUNT;

    RETURN jsonb_build_object ('stack_id', stack, 'opened', opened, 'updated', updated,
                               'reopened', reopened, 'resolved', resolved);
END
$$;

-- A batch of documents (each with its "tenant") in one call and one
-- transaction: the archive stage's one round trip per WORK batch. Reports
-- are taken in (tenant, stack) order, so two workers whose batches share
-- stacks lock them in the same order and never deadlock. A report the
-- tables refuse (a value out of range, an unknown kind) is recorded as a
-- failed report saying why, so it is not retried forever; one that cannot
-- be recorded at all (its agent or tenant is gone) comes back as
-- {"error": ...} for the stage to fail alone. Any other error (lost
-- connection, lock timeout) aborts the whole batch, which is retried.
CREATE FUNCTION drift_archive_batch (docs jsonb)
RETURNS TABLE (batch_index integer, outcome jsonb)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    entry    record;
    refused  text;
    indexes  integer [] := '{}';
    outcomes jsonb [] := '{}';
BEGIN
    -- Optimistic: the whole batch in one subtransaction, since a refused
    -- report is rare; only when one is refused is the batch done again
    -- report by report, each in its own. The answers are kept aside until
    -- the block commits (rows RETURNed NEXT would survive its rollback).
    BEGIN
        FOR entry IN SELECT d.doc, d.n FROM jsonb_array_elements (docs) WITH ORDINALITY AS d (doc, n)
                      ORDER BY d.doc->>'tenant', d.doc->>'stack', d.n
        LOOP
            indexes := indexes || (entry.n - 1)::integer;
            outcomes := outcomes || drift_archive_report ((entry.doc->>'tenant')::uuid, entry.doc);
        END LOOP;
        FOR i IN 1 .. coalesce (array_length (indexes, 1), 0) LOOP
            batch_index := indexes [i];
            outcome := outcomes [i];
            RETURN NEXT;
        END LOOP;
        RETURN;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
        NULL;
    END;
    FOR entry IN SELECT d.doc, d.n FROM jsonb_array_elements (docs) WITH ORDINALITY AS d (doc, n)
                  ORDER BY d.doc->>'tenant', d.doc->>'stack', d.n
    LOOP
        batch_index := entry.n - 1;
        BEGIN
            outcome := drift_archive_report ((entry.doc->>'tenant')::uuid, entry.doc);
        EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
            refused := SQLERRM;
            BEGIN
                outcome := drift_archive_report ((entry.doc->>'tenant')::uuid,
                               entry.doc || jsonb_build_object (
                                   'status', 'failed', 'items', '[]'::jsonb,
                                   'reason', 'the archive refused the report: ' || refused))
                        || jsonb_build_object ('refused', refused);
            EXCEPTION WHEN data_exception OR integrity_constraint_violation THEN
                outcome := jsonb_build_object ('error', refused || '; recording it as failed: ' || SQLERRM);
            END;
        END;
        RETURN NEXT;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION drift_archive_report (uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_archive_report (uuid, jsonb) TO drift_app;
REVOKE ALL ON FUNCTION drift_archive_batch (jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_archive_batch (jsonb) TO drift_app;

-- ---------------------------------------------------------------------------
-- The journal for the pipeline's roles: pgmq's functions and queue tables
-- (the extension's or schema/pgmq's), ingest's dedup claims and the record
-- of stage failures. None of these hold tenant data beyond the envelope.

GRANT USAGE ON SCHEMA pgmq TO drift_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA pgmq TO drift_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA pgmq TO drift_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pgmq TO drift_app;
-- Queues created later (pgmq.create makes tables) are the services' too.
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO drift_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA pgmq GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO drift_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON drift_ingested, drift_failures TO drift_app;
GRANT EXECUTE ON FUNCTION drift_journal_accept (text, jsonb, integer) TO drift_app;
