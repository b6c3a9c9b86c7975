-- drift_batch_news reads a report's items by the report, not by its stack
-- (issue 20).
--
-- The items a report opened or resolved were found among every item of its
-- stack (drift_items_pkey on tenant and stack, then a filter on
-- opened_by_report or resolved_by_report): auto_explain showed each
-- report's news reading all the stack's items, resolved ones included, so
-- notify's cost grew with the stack's history, as 0025 found for reports.
-- They are now read through drift_items_opened_by and
-- drift_items_resolved_by, one lookup each by the report's id; an item
-- both opened and resolved by the report comes from the first only, as
-- the OR counted it once.
--
-- It also read the batch's JSON three times per tenant (its tenants, then
-- each tenant's reports twice, each entry's tenant matched against a
-- pattern every time): a third of the function's time in bench/e2e
-- (pg_stat_statements: 1 263 ms in all, 863 in its query). The batch is
-- now read once into arrays. What it answers is unchanged (the notify test
-- compares it with drift_report_news report by report).

CREATE OR REPLACE FUNCTION drift_batch_news (batch jsonb, silent_after interval DEFAULT NULL)
RETURNS TABLE (ord integer, news jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    tenant uuid;
    tenants uuid[];              -- each entry's tenant (NULL: not a uuid), in order
    reports text[];              -- each entry's report, in order
    ids text[];                  -- the tenant's reports in the batch
BEGIN
    -- The batch read once, not once per tenant.
    SELECT coalesce (array_agg (CASE WHEN e.value->>'tenant'
                                          ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                                     THEN (e.value->>'tenant')::uuid END ORDER BY e.ordinality),
                     '{}'),
           coalesce (array_agg (e.value->>'report' ORDER BY e.ordinality), '{}')
      INTO tenants, reports
      FROM jsonb_array_elements (batch) WITH ORDINALITY e;
    FOR tenant IN SELECT DISTINCT u.t FROM unnest (tenants) u (t) WHERE u.t IS NOT NULL LOOP
        PERFORM set_config ('drift.tenant', tenant::text, true);
        ids := ARRAY (SELECT u.r FROM unnest (tenants, reports) u (t, r) WHERE u.t = tenant);
        RETURN QUERY
        WITH wanted AS (
            SELECT u.r AS report, u.o::integer AS ord
              FROM unnest (tenants, reports) WITH ORDINALITY u (t, r, o)
             WHERE u.t = tenant),
        channels AS (
            SELECT coalesce (jsonb_agg (jsonb_build_object (
                       'id', c.id, 'name', c.name, 'kind', c.kind,
                       'min_severity', c.min_severity,
                       'digest_seconds', c.digest_seconds)
                   ORDER BY c.name), '[]') AS list
              FROM notification_channels c
             WHERE c.tenant_id = tenant AND c.enabled)
        SELECT w.ord, jsonb_build_object (
                   'tenant', t.name,
                   'stack', s.name,
                   'received_us', (extract (epoch FROM r.received_at) * 1000000)::bigint,
                   'severity', r.severity,
                   'score', r.score,
                   'status', r.status,
                   'items', coalesce (i.list, '[]'),
                   'channels', ch.list,
                   'check', CASE
                       WHEN r.status = 'failed' AND coalesce (p.status, 'ok') = 'ok'
                           THEN jsonb_build_object ('state', 'failed',
                                                    'reason', coalesce (r.reason, ''))
                       WHEN r.received_at - p.received_at > silent_after
                           THEN jsonb_build_object ('state', 'resumed')
                       WHEN r.status = 'ok' AND p.status = 'failed'
                           THEN jsonb_build_object ('state', 'recovered')
                       END)
          FROM wanted w
          JOIN reports r ON r.tenant_id = tenant AND r.report_id = w.report
                        AND r.report_id = ANY (ids)
          JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id
          JOIN tenants t ON t.id = r.tenant_id
          CROSS JOIN channels ch
          LEFT JOIN LATERAL (
              SELECT jsonb_agg (jsonb_build_object (
                         'fingerprint', d.fingerprint, 'address', d.address,
                         'type', d.type, 'kind', d.kind, 'severity', d.severity,
                         'score', d.score, 'changes', d.changes, 'reasons', d.reasons,
                         'resolved', d.resolved_by_report IS NOT DISTINCT FROM w.report
                                     AND d.opened_by_report <> w.report)
                     ORDER BY d.resolved_by_report IS NOT DISTINCT FROM w.report,
                              d.severity DESC, d.address) AS list
                FROM (SELECT * FROM drift_items o
                       WHERE o.tenant_id = tenant AND o.opened_by_report = w.report
                      UNION ALL
                      SELECT * FROM drift_items c
                       WHERE c.tenant_id = tenant AND c.resolved_by_report = w.report
                         AND c.opened_by_report <> w.report) d
               WHERE d.stack_id = r.stack_id AND NOT d.suppressed
                 AND (d.muted_reason IS NULL OR d.muted_until <= now ())) i
            ON true
          LEFT JOIN LATERAL (
              SELECT q.status, q.received_at FROM reports q
               WHERE q.tenant_id = r.tenant_id AND q.stack_id = r.stack_id
                 AND (q.received_at, q.report_id) < (r.received_at, r.report_id)
               ORDER BY q.received_at DESC, q.report_id DESC
               LIMIT 1) p
            ON true;
    END LOOP;
END
$$;
