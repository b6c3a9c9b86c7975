-- Notices about a stack's check itself: when it starts failing and when it
-- works again. A failed report (terraform plan exited non-zero, a plan that
-- could not be read) records nothing about drift, so without these a
-- stack whose checks fail would simply go quiet.
--
-- drift_report_news (0009, 0011) gains "check":
--   {"state": "failed", "reason": ...}  a failed report whose stack's
--                                       previous report was successful (or
--                                       that is the stack's first report);
--   {"state": "resumed"}                a report after a silence: none for
--                                       longer than silent_after before it
--                                       (notify's --silent-after-s, 0014 tells
--                                       the silence itself; NULL: not asked);
--   {"state": "recovered"}              a successful report after a failed
--                                       one;
--   null                                otherwise: a stack that keeps
--                                       failing is told once, not hourly.
-- "Previous" is by receipt time (then report id), as for the lifecycle
-- (0008), so a replayed report is told the same as the first time.

ALTER FUNCTION drift_report_news (uuid, text) RENAME TO drift_report_item_news;

CREATE FUNCTION drift_report_news (tenant uuid, report text, silent_after interval DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    -- sets the tenant for the rest of the transaction
    news jsonb := drift_report_item_news (tenant, report);
    state text;
    reason text;
    previous text;
    gap interval;
BEGIN
    IF news IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT r.status, r.reason, p.status, r.received_at - p.received_at
      INTO state, reason, previous, gap
      FROM reports r
      LEFT JOIN LATERAL (
          SELECT q.status, q.received_at FROM reports q
           WHERE q.tenant_id = r.tenant_id AND q.stack_id = r.stack_id
             AND (q.received_at, q.report_id) < (r.received_at, r.report_id)
           ORDER BY q.received_at DESC, q.report_id DESC
           LIMIT 1) p ON true
     WHERE r.tenant_id = tenant AND r.report_id = report;
    RETURN news || jsonb_build_object ('check', CASE
        WHEN state = 'failed' AND coalesce (previous, 'ok') = 'ok'
            THEN jsonb_build_object ('state', 'failed', 'reason', coalesce (reason, ''))
        WHEN gap > silent_after
            THEN jsonb_build_object ('state', 'resumed')
        WHEN state = 'ok' AND previous = 'failed'
            THEN jsonb_build_object ('state', 'recovered')
        END);
END
$$;

REVOKE ALL ON FUNCTION drift_report_news (uuid, text, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_report_news (uuid, text, interval) TO drift_app;
