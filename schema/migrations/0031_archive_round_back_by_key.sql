-- The archive's lifecycle statement reads what a round's reports name, not
-- their stacks' history (issue 20).
--
-- A stack's items are never deleted: every drifted value that changed and
-- every episode that ended left a resolved row, so a stack checked for
-- months holds hundreds. 0026 looked up the items a report brings back
-- (resolved before, in the report again) by joining the report's
-- fingerprints to drift_items; when the statistics say a stack holds few
-- items (most stacks do), the planner scans each stack's items by
-- (tenant, stack), resolved ones included, and compares them with the
-- fingerprints. tests/test_archive_batch.c built ten stacks of 235 items
-- among 400 stacks of one: a round of ten reports read 13 795 item rows.
-- Each fingerprint is now looked up by the whole primary key inside its
-- own row (a LATERAL fenced with OFFSET 0): the same round reads about
-- 200, and a clean report reads nothing. The newer report of the stack
-- (for a late report) is looked up in a LATERAL of the report too, where
-- 0026's list of them was joined back once per report pair. What the
-- function writes and answers is unchanged (the same test file compares
-- the batch with the per-report path on generated sequences).

CREATE OR REPLACE FUNCTION drift_archive_round (tenant uuid, docs jsonb)
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
    -- Items back after being resolved: a new episode. Each of the report's
    -- fingerprints is looked up by the whole primary key and nothing else
    -- (OFFSET 0 keeps the lookup inside the fingerprint's row, where no
    -- other index applies, whatever the statistics say), so a report reads
    -- what it names, not its stack's history; a clean report reads nothing.
    back AS (
        SELECT x.batch_index, count (*) AS reopened
          FROM x CROSS JOIN LATERAL (SELECT DISTINCT unnest (x.fingerprints) AS fingerprint) AS f
          CROSS JOIN LATERAL (
               SELECT d.resolved_at, d.last_seen
                 FROM drift_items d
                WHERE d.tenant_id = tenant AND d.stack_id = x.stack_id
                  AND d.fingerprint = f.fingerprint
               OFFSET 0) AS d
         WHERE d.resolved_at IS NOT NULL AND x.received > d.resolved_at
           AND x.received >= d.last_seen
         GROUP BY x.batch_index
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
          FROM x
          -- A report archived after a newer successful one of its stack:
          -- what it shows first is recorded resolved by that newer one.
          LEFT JOIN LATERAL (
               SELECT r.report_id AS next_id, r.received_at AS next_at
                 FROM reports r
                WHERE x.last_success > x.received
                  AND r.tenant_id = tenant AND r.stack_id = x.stack_id AND r.status = 'ok'
                  AND r.received_at > x.received
                ORDER BY r.received_at
                LIMIT 1) AS later ON true
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
    -- Open items of the stack the report no longer contains, last seen before
    -- it: looked up once per report by (tenant, stack) among its stack's
    -- open items (OFFSET 0 keeps the lookup inside the report's row, and
    -- MATERIALIZED keeps the list apart from the UPDATE's join), then
    -- updated by key.
    stale AS MATERIALIZED (
        SELECT x.stack_id, x.received, x.report_id, i.fingerprint
          FROM x CROSS JOIN LATERAL (
               SELECT i.fingerprint
                 FROM drift_items i
                WHERE i.tenant_id = tenant AND i.stack_id = x.stack_id
                  AND i.resolved_at IS NULL AND i.last_seen < x.received
                  AND NOT (i.fingerprint = ANY (x.fingerprints))
               OFFSET 0) AS i
    ),
    gone AS (
        UPDATE drift_items d
           SET resolved_at = o.received, resolved_by_report = o.report_id
          FROM stale o
         WHERE d.tenant_id = tenant AND d.stack_id = o.stack_id AND d.fingerprint = o.fingerprint
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
