-- Notify: what a channel last did, and what a report announces.
--
-- A channel's health is kept on its row, where `drift channel list`,
-- `drift status` and the dashboard read it: the last delivery, the last
-- permanent failure and its reason, and counters. Breaker state and the
-- delivery queue live in Redis (actors/notify/outbox, actors/notify/breaker); this is the
-- durable record an operator looks at.

ALTER TABLE notification_channels
    ADD COLUMN last_sent_at     timestamptz,
    ADD COLUMN last_error       text,
    ADD COLUMN last_error_at    timestamptz,
    ADD COLUMN sent_total       bigint NOT NULL DEFAULT 0 CHECK (sent_total >= 0),
    ADD COLUMN failed_total     bigint NOT NULL DEFAULT 0 CHECK (failed_total >= 0),
    ADD CONSTRAINT notification_channels_error_when
        CHECK ((last_error IS NULL) = (last_error_at IS NULL));

-- Notify asks, per report, which items it opened and which it resolved.
CREATE INDEX drift_items_opened_by ON drift_items (tenant_id, opened_by_report);
CREATE INDEX drift_items_resolved_by ON drift_items (tenant_id, resolved_by_report)
    WHERE resolved_by_report IS NOT NULL;

-- What a report announces, for notify: the report (tenant name, stack,
-- receipt time in microseconds, severity, score, status), the drift items
-- it opened (new or reopened: a changed value is a new fingerprint) and
-- those it resolved, never suppressed ones, and the tenant's enabled
-- channels. Stable under replay: it reads what the archive recorded for
-- the report, not what changed in the last call. NULL if the report is
-- not archived (yet). Runs as its caller, under the tenant it sets.
CREATE FUNCTION drift_report_news (tenant uuid, report text) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    result jsonb;
BEGIN
    PERFORM set_config ('drift.tenant', tenant::text, true);
    SELECT jsonb_build_object (
               'tenant', t.name,
               'stack', s.name,
               'received_us', (extract (epoch FROM r.received_at) * 1000000)::bigint,
               'severity', r.severity,
               'score', r.score,
               'status', r.status,
               'items', coalesce ((
                   SELECT jsonb_agg (jsonb_build_object (
                              'fingerprint', d.fingerprint, 'address', d.address,
                              'type', d.type, 'kind', d.kind, 'severity', d.severity,
                              'score', d.score, 'changes', d.changes, 'reasons', d.reasons,
                              'resolved', d.resolved_by_report IS NOT DISTINCT FROM report
                                          AND d.opened_by_report <> report)
                          ORDER BY d.resolved_by_report IS NOT DISTINCT FROM report,
                                   d.severity DESC, d.address)
                     FROM drift_items d
                    WHERE d.tenant_id = tenant AND d.stack_id = r.stack_id AND NOT d.suppressed
                      AND (d.opened_by_report = report OR d.resolved_by_report = report)),
                   '[]'),
               'channels', coalesce ((
                   SELECT jsonb_agg (jsonb_build_object (
                              'id', c.id, 'name', c.name, 'kind', c.kind,
                              'min_severity', c.min_severity,
                              'digest_seconds', c.digest_seconds)
                          ORDER BY c.name)
                     FROM notification_channels c
                    WHERE c.tenant_id = tenant AND c.enabled),
                   '[]'))
      INTO result
      FROM reports r
      JOIN stacks s ON s.tenant_id = r.tenant_id AND s.id = r.stack_id
      JOIN tenants t ON t.id = r.tenant_id
     WHERE r.tenant_id = tenant AND r.report_id = report;
    RETURN result;
END
$$;

REVOKE ALL ON FUNCTION drift_report_news (uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_report_news (uuid, text) TO drift_app;
