-- drift_batch_news (0024) looks each report up by its key (issue 20).
--
-- The planner cannot see how many reports the batch names (a function
-- scan of jsonb is estimated at one row), and with row-level security on
-- reports it joined them by hashing every report of the tenant: each
-- batch read the tenant's whole history, so notify got slower with every
-- report archived (measured by bench/e2e with pg_stat_statements and
-- auto_explain: a bitmap scan of all 775 reports of a tenant, for 6 wanted).
-- The same query with the batch's report ids as an array, so reports are
-- found by their primary key (tenant_id, report_id) and the cost follows
-- the batch, not the history. What it answers is unchanged (the notify
-- test compares it with drift_report_news report by report).
--
-- The report before each one of its stack (for the check's "failed",
-- "recovered", "resumed") is ordered by (received_at, report_id), but
-- reports_stack_history held received_at only, so the lookup read and
-- sorted every earlier report of the stack: with 20 000 reports in a stack,
-- 18-24 ms for one report's news, 2 ms with report_id in the index. The
-- index now holds both (it serves the dashboard's stack history as before).

DROP INDEX reports_stack_history;
CREATE INDEX reports_stack_history
    ON reports (tenant_id, stack_id, received_at DESC, report_id DESC);

CREATE OR REPLACE FUNCTION drift_batch_news (batch jsonb, silent_after interval DEFAULT NULL)
RETURNS TABLE (ord integer, news jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    tenant uuid;
    ids text[];                  -- the tenant's reports in the batch
BEGIN
    FOR tenant IN
        SELECT DISTINCT (e.value->>'tenant')::uuid
          FROM jsonb_array_elements (batch) e
         WHERE e.value->>'tenant' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    LOOP
        PERFORM set_config ('drift.tenant', tenant::text, true);
        ids := ARRAY (
            SELECT e.value->>'report' FROM jsonb_array_elements (batch) e
             WHERE CASE WHEN e.value->>'tenant'
                             ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                        THEN (e.value->>'tenant')::uuid END = tenant);
        RETURN QUERY
        WITH wanted AS (
            SELECT e.value->>'report' AS report, e.ordinality::integer AS ord
              FROM jsonb_array_elements (batch) WITH ORDINALITY e
             WHERE CASE WHEN e.value->>'tenant'
                             ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                        THEN (e.value->>'tenant')::uuid END = tenant),
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
                FROM drift_items d
               WHERE d.tenant_id = tenant AND d.stack_id = r.stack_id AND NOT d.suppressed
                 AND (d.muted_reason IS NULL OR d.muted_until <= now ())
                 AND (d.opened_by_report = w.report OR d.resolved_by_report = w.report)) i
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

REVOKE ALL ON FUNCTION drift_batch_news (jsonb, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_batch_news (jsonb, interval) TO drift_app;
