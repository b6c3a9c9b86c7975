-- The archive's batch write, set-based (issue 20). drift_archive_batch
-- (0008) called drift_archive_report once per report: about nine
-- statements each, interpreted one by one, 79 % of the archive stage's time.
-- This one writes a batch in a few statements per tenant: the stacks and
-- reports of every report in one statement, the drift items, their
-- resolutions and sightings in a second, whatever the batch's size.
--
-- Equal to one by one. Reports of different stacks touch different rows
-- (stacks, drift_items and drift_sightings are keyed by stack), so they can
-- be applied together; reports of one stack cannot, since each one's
-- lifecycle depends on what the one before it wrote. So the batch is cut
-- into rounds: round k holds the k-th report of every stack in the batch
-- (in batch order), and rounds are applied one after the other: the
-- per-stack sequential fallback. Row-level security needs one tenant per
-- statement (drift.tenant is one setting), so a round is applied per
-- tenant. Within a round every statement is the set form of the same
-- statement in drift_archive_lifecycle and drift_archive_report (0008,
-- 0012), written with the same expressions, so that the rows are the same
-- as applying the reports one by one: tests/test_archive_batch.c compares
-- both on generated sequences.
--
-- Whatever the set form does not cover falls back to the per-report path,
-- renamed drift_archive_batch_each, whole: a report the tables refuse or
-- whose agent is unknown (the set form raises, its subtransaction is
-- undone, and the per-report path records the report as failed or answers
-- {"error"} as before); a report id sent for two stacks of a tenant in one
-- batch; a tenant id not written in its canonical form (the rounds would
-- group by a text the per-report path orders differently).
--
-- Locks: rows are written in (tenant, stack) order in round 1, which locks
-- every stack row the batch touches, as the per-report path does; later
-- rounds touch only stacks already locked. Two workers never deadlock on
-- the order; a deadlock with anything else is retried by the stage.

ALTER FUNCTION drift_archive_batch (jsonb) RENAME TO drift_archive_batch_each;

-- The documents of one round (one per stack, "batch_index" and, after the
-- first statement, "stack_id" and "last_success" added) as rows, with the
-- values the per-report functions compute from a document, by the same
-- expressions. No SET clause, so the planner can inline it; it names only
-- built-ins, which pg_catalog resolves before any schema a caller controls.
CREATE FUNCTION drift_archive_entries (docs jsonb)
RETURNS TABLE (doc jsonb, batch_index integer, report_id text, stack text, ok boolean,
               received timestamptz, stack_id uuid, last_success timestamptz,
               fingerprints text [])
LANGUAGE sql STABLE AS $$
    SELECT d.doc, (d.doc->>'batch_index')::integer, d.doc->>'report_id', d.doc->>'stack',
           d.doc->>'status' = 'ok',
           'epoch'::timestamptz + (d.doc->>'received_us')::bigint * interval '1 microsecond',
           (d.doc->>'stack_id')::uuid, (d.doc->>'last_success')::timestamptz,
           CASE WHEN d.doc->>'status' = 'ok' THEN
               (SELECT coalesce (array_agg (x->>'fingerprint'), '{}')
                  FROM jsonb_array_elements (coalesce (d.doc->'items', '[]')) AS x)
           END
      FROM jsonb_array_elements (docs) AS d (doc);
$$;

-- One round of one tenant: every report's stack and report row, then the
-- lifecycle of the successful ones. Returns each report's batch index and
-- outcome, as drift_archive_report answers.
CREATE FUNCTION drift_archive_round (tenant uuid, docs jsonb)
RETURNS TABLE (batch_index integer, outcome jsonb)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    entries jsonb;
BEGIN
    PERFORM set_config ('drift.tenant', tenant::text, true);

    -- Stacks and reports (drift_archive_lifecycle's two upserts). A report
    -- whose agent key is not one of the tenant's agents gets no agent_id,
    -- which the table refuses: the batch falls back to the per-report path,
    -- which answers why.
    WITH x AS (SELECT * FROM drift_archive_entries (docs)),
    s AS (
        INSERT INTO stacks AS s (tenant_id, name, engine, last_report_id, last_report_at,
                                 last_success_at)
        SELECT tenant, x.stack, x.doc->>'engine', x.report_id, x.received,
               CASE WHEN x.ok THEN x.received END
          FROM x ORDER BY x.stack
        ON CONFLICT (tenant_id, name) DO UPDATE
           SET last_report_id  = CASE WHEN s.last_report_at IS NULL
                                        OR EXCLUDED.last_report_at >= s.last_report_at
                                      THEN EXCLUDED.last_report_id ELSE s.last_report_id END,
               last_report_at  = greatest (s.last_report_at, EXCLUDED.last_report_at),
               last_success_at = CASE WHEN EXCLUDED.last_success_at IS NOT NULL
                                      THEN greatest (s.last_success_at, EXCLUDED.last_success_at)
                                      ELSE s.last_success_at END,
               engine          = CASE WHEN s.last_report_at IS NULL
                                        OR EXCLUDED.last_report_at >= s.last_report_at
                                      THEN EXCLUDED.engine ELSE s.engine END
        RETURNING s.name, s.id, s.last_success_at
    ),
    r AS (
        INSERT INTO reports AS r (tenant_id, report_id, stack_id, agent_id, received_at,
                                  normalized_at, scored_at, status, reason, severity, score,
                                  counts, object_key, key_id)
        SELECT tenant, x.report_id, s.id, a.id, x.received,
               'epoch'::timestamptz + (nullif (x.doc->>'normalized_us', '0'))::bigint
                                    * interval '1 microsecond',
               'epoch'::timestamptz + (nullif (x.doc->>'scored_us', '0'))::bigint
                                    * interval '1 microsecond',
               x.doc->>'status', x.doc->>'reason', (x.doc->>'severity')::smallint,
               (x.doc->>'score')::real, x.doc->'counts', x.doc->>'object_key', x.doc->>'key_id'
          FROM x JOIN s ON s.name = x.stack
          LEFT JOIN agents a ON a.public_key = x.doc->>'agent_key'
         ORDER BY x.stack
        ON CONFLICT (tenant_id, report_id) DO UPDATE
           SET stack_id = EXCLUDED.stack_id, agent_id = EXCLUDED.agent_id,
               received_at = EXCLUDED.received_at, normalized_at = EXCLUDED.normalized_at,
               scored_at = EXCLUDED.scored_at, status = EXCLUDED.status, reason = EXCLUDED.reason,
               severity = EXCLUDED.severity, score = EXCLUDED.score, counts = EXCLUDED.counts,
               object_key = EXCLUDED.object_key, key_id = EXCLUDED.key_id
    )
    SELECT jsonb_agg (x.doc || jsonb_build_object ('stack_id', s.id,
                                                   'last_success', s.last_success_at))
      INTO entries
      FROM x JOIN s ON s.name = x.stack;

    -- A failed report saw nothing and resolves nothing.
    RETURN QUERY
    SELECT x.batch_index, jsonb_build_object ('stack_id', x.stack_id, 'opened', 0, 'updated', 0,
                                              'reopened', 0, 'resolved', 0)
      FROM drift_archive_entries (entries) AS x
     WHERE NOT x.ok;

    -- The lifecycle of the successful ones, in one statement: what it
    -- reads (reopened, the next report) is the state before it, as in the
    -- per-report function, and its writes touch separate rows (the items a
    -- report contains are upserted, the open ones it does not contain are
    -- resolved), so their order within the statement does not matter. The
    -- sightings' foreign key to drift_items is checked at the statement's
    -- end, after the upsert.
    RETURN QUERY
    WITH x AS (SELECT * FROM drift_archive_entries (entries) AS e WHERE e.ok),
    -- Items back after being resolved: a new episode.
    back AS (
        SELECT x.batch_index, count (*) AS reopened
          FROM x JOIN drift_items d
            ON d.tenant_id = tenant AND d.stack_id = x.stack_id
           AND d.fingerprint = ANY (x.fingerprints)
           AND d.resolved_at IS NOT NULL AND x.received > d.resolved_at
           AND x.received >= d.last_seen
         GROUP BY x.batch_index
    ),
    -- A report archived after a newer successful one of its stack: what it
    -- shows first is recorded resolved by that newer one.
    later AS (
        SELECT x.batch_index, n.report_id AS next_id, n.received_at AS next_at
          FROM x CROSS JOIN LATERAL (
                   SELECT r.report_id, r.received_at
                     FROM reports r
                    WHERE r.tenant_id = tenant AND r.stack_id = x.stack_id AND r.status = 'ok'
                      AND r.received_at > x.received
                    ORDER BY r.received_at
                    LIMIT 1) AS n
         WHERE x.last_success > x.received
    ),
    written AS (
        INSERT INTO drift_items AS d (tenant_id, stack_id, fingerprint, address, type, kind, class,
                                      changes, severity, score, reasons, suppressed, suppressed_by,
                                      first_seen, last_seen, opened_by_report, last_report,
                                      resolved_at, resolved_by_report)
        SELECT tenant, x.stack_id, i.fingerprint, i.address, i.type, i.kind, i.class,
               coalesce (i.changes, '[]'), i.severity, i.score, coalesce (i.reasons, '[]'),
               coalesce (i.suppressed, false), CASE WHEN i.suppressed THEN i.suppressed_by END,
               x.received, x.received, x.report_id, x.report_id, later.next_at, later.next_id
          FROM x LEFT JOIN later ON later.batch_index = x.batch_index
          CROSS JOIN LATERAL (
               SELECT DISTINCT ON (y.fingerprint) y.*
                 FROM jsonb_to_recordset (coalesce (x.doc->'items', '[]')) AS y (
                      fingerprint text, address text, type text, kind text, class text,
                      changes jsonb, severity smallint, score real, reasons jsonb,
                      suppressed boolean, suppressed_by text)
                ORDER BY y.fingerprint, y.severity DESC) AS i
         ORDER BY x.stack, i.fingerprint
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
        RETURNING d.stack_id, (xmax = 0) AS inserted
    ),
    -- Open items of the stack the report no longer contains, last seen before it.
    gone AS (
        UPDATE drift_items d
           SET resolved_at = x.received, resolved_by_report = x.report_id
          FROM x
         WHERE d.tenant_id = tenant AND d.stack_id = x.stack_id AND d.resolved_at IS NULL
           AND d.last_seen < x.received
           AND NOT (d.fingerprint = ANY (x.fingerprints))
        RETURNING d.stack_id
    ),
    seen AS (
        INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id, severity)
        SELECT tenant, x.stack_id, y.fingerprint, x.received, x.report_id, max (y.severity)
          FROM x CROSS JOIN LATERAL jsonb_to_recordset (coalesce (x.doc->'items', '[]'))
               AS y (fingerprint text, severity smallint)
         GROUP BY x.stack_id, y.fingerprint, x.received, x.report_id
        ON CONFLICT DO NOTHING
    )
    SELECT x.batch_index,
           jsonb_build_object ('stack_id', x.stack_id,
                               'opened', coalesce (w.opened, 0),
                               'updated', coalesce (w.touched, 0) - coalesce (back.reopened, 0),
                               'reopened', coalesce (back.reopened, 0),
                               'resolved', coalesce (g.resolved, 0))
      FROM x
      LEFT JOIN back ON back.batch_index = x.batch_index
      LEFT JOIN (SELECT written.stack_id, count (*) FILTER (WHERE inserted) AS opened,
                        count (*) FILTER (WHERE NOT inserted) AS touched
                   FROM written GROUP BY written.stack_id) AS w ON w.stack_id = x.stack_id
      LEFT JOIN (SELECT gone.stack_id, count (*) AS resolved
                   FROM gone GROUP BY gone.stack_id) AS g ON g.stack_id = x.stack_id;
END
$$;

-- A batch of documents (each with its "tenant") in one call and one
-- transaction, as before: the same answers, one row per document.
CREATE FUNCTION drift_archive_batch (docs jsonb)
RETURNS TABLE (batch_index integer, outcome jsonb)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    round    record;
    answers  record;
    indexes  integer [] := '{}';
    outcomes jsonb [] := '{}';
BEGIN
    IF jsonb_typeof (docs) <> 'array' OR EXISTS (
           SELECT 1 FROM jsonb_array_elements (docs) AS d (doc)
            WHERE jsonb_typeof (d.doc) <> 'object'
               OR d.doc->>'tenant' IS NULL OR d.doc->>'stack' IS NULL
               OR d.doc->>'tenant' !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')
    OR EXISTS (
           SELECT 1 FROM jsonb_array_elements (docs) AS d (doc)
            GROUP BY d.doc->>'tenant', d.doc->>'report_id'
           HAVING count (DISTINCT d.doc->>'stack') > 1)
    -- A stack twice in the batch: the per-report path. Rounds apply such a
    -- batch exactly as one by one (tests/test_archive_batch.c), but batches
    -- of one stack (an agent's spool draining) made the archive fall behind
    -- in ctest faults, which the per-report path passes; until that is
    -- understood, only batches of distinct stacks are written in one round.
    OR EXISTS (
           SELECT 1 FROM jsonb_array_elements (docs) AS d (doc)
            GROUP BY d.doc->>'tenant', d.doc->>'stack'
           HAVING count (*) > 1)
    THEN
        RETURN QUERY SELECT * FROM drift_archive_batch_each (docs);
        RETURN;
    END IF;
    -- The answers are kept aside until the block commits (rows RETURNed
    -- NEXT would survive its rollback).
    BEGIN
        FOR round IN
            SELECT r.tenant, jsonb_agg (r.doc || jsonb_build_object ('batch_index', r.n - 1)
                                        ORDER BY r.stack) AS docs
              FROM (SELECT d.doc, d.n, d.doc->>'tenant' AS tenant, d.doc->>'stack' AS stack,
                           row_number () OVER (PARTITION BY d.doc->>'tenant', d.doc->>'stack'
                                               ORDER BY d.n) AS k
                      FROM jsonb_array_elements (docs) WITH ORDINALITY AS d (doc, n)) AS r
             GROUP BY r.k, r.tenant
             ORDER BY r.k, r.tenant
        LOOP
            FOR answers IN SELECT * FROM drift_archive_round (round.tenant::uuid, round.docs) LOOP
                indexes := indexes || answers.batch_index;
                outcomes := outcomes || answers.outcome;
            END LOOP;
        END LOOP;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR cardinality_violation THEN
        RETURN QUERY SELECT * FROM drift_archive_batch_each (docs);
        RETURN;
    END;
    RETURN QUERY SELECT * FROM unnest (indexes, outcomes);
END
$$;

REVOKE ALL ON FUNCTION drift_archive_entries (jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_archive_entries (jsonb) TO drift_app;
REVOKE ALL ON FUNCTION drift_archive_round (uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_archive_round (uuid, jsonb) TO drift_app;
REVOKE ALL ON FUNCTION drift_archive_batch (jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_archive_batch (jsonb) TO drift_app;
