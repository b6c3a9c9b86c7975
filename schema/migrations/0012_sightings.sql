-- Every report that saw a drift item (a "sighting"), so the dashboard can
-- list them all, not only the reports that opened, last saw and resolved it.
--
-- drift_items keeps one row per (tenant, stack, fingerprint), its current
-- state; drift_sightings keeps one row per report that contained the
-- fingerprint, whatever order reports are archived in: a late, older report
-- that changes nothing in drift_items (0008) is still a sighting. Rows go
-- with their item or their report (ON DELETE CASCADE).

CREATE TABLE drift_sightings (
    tenant_id   uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    stack_id    uuid        NOT NULL,
    fingerprint text        NOT NULL,
    -- the report's receipt time, as drift_items' first_seen and last_seen
    seen_at     timestamptz NOT NULL,
    report_id   text        NOT NULL,
    -- the item's severity in that report (rules and ignores may change it)
    severity    smallint    NOT NULL CHECK (severity BETWEEN 0 AND 5),
    -- newest first for one item is a walk of this key backwards
    PRIMARY KEY (tenant_id, stack_id, fingerprint, seen_at, report_id),
    FOREIGN KEY (tenant_id, stack_id, fingerprint)
        REFERENCES drift_items (tenant_id, stack_id, fingerprint) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, report_id) REFERENCES reports (tenant_id, report_id) ON DELETE CASCADE
);
-- A report's deletion finds its sightings through this.
CREATE INDEX drift_sightings_report ON drift_sightings (tenant_id, report_id);

ALTER TABLE drift_sightings ENABLE ROW LEVEL SECURITY;
ALTER TABLE drift_sightings FORCE ROW LEVEL SECURITY;
CREATE POLICY drift_sightings_tenant ON drift_sightings
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE, DELETE ON drift_sightings TO drift_app;

-- What is known of the items already archived: the reports that opened
-- them and last saw them.
INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id, severity)
SELECT d.tenant_id, d.stack_id, d.fingerprint, r.received_at, r.report_id, d.severity
  FROM drift_items d
  JOIN reports r ON r.tenant_id = d.tenant_id
                AND r.report_id IN (d.opened_by_report, d.last_report)
ON CONFLICT DO NOTHING;

-- The archive's per-report write becomes 0008's lifecycle followed by the
-- sightings. drift_archive_batch calls drift_archive_report by name, so it
-- runs this one from now on.
ALTER FUNCTION drift_archive_report (uuid, jsonb) RENAME TO drift_archive_lifecycle;

CREATE FUNCTION drift_archive_report (tenant uuid, doc jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    outcome jsonb := drift_archive_lifecycle (tenant, doc);
BEGIN
    -- A failed report saw nothing. Every fingerprint of an ok one has its
    -- drift_items row now (opened, updated, or older than the row and left).
    IF doc->>'status' = 'ok' THEN
        INSERT INTO drift_sightings (tenant_id, stack_id, fingerprint, seen_at, report_id, severity)
        SELECT tenant, (outcome->>'stack_id')::uuid, x.fingerprint,
               'epoch'::timestamptz + (doc->>'received_us')::bigint * interval '1 microsecond',
               doc->>'report_id', max (x.severity)
          FROM jsonb_to_recordset (coalesce (doc->'items', '[]'))
               AS x (fingerprint text, severity smallint)
         GROUP BY x.fingerprint
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN outcome;
END
$$;

REVOKE ALL ON FUNCTION drift_archive_report (uuid, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_archive_report (uuid, jsonb) TO drift_app;
