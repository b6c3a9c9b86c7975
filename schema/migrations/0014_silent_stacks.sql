-- Stacks gone silent: no report for longer than notify's --silent-after-s.
-- A stack whose agent stopped (a deleted CI job, a dead host) sends no
-- failed report either, so without this its drift would go unseen and
-- nobody be told.
--
-- Notify runs as drift_app, which sees one tenant at a time, and this is
-- a question across tenants: one SECURITY DEFINER function answers it, as
-- the owner, with what a notice needs and nothing else (as
-- drift_agent_by_key does for the key registry, 0007). Only stacks silent
-- for at most `look_back` longer than `quiet_for` are named: each is told
-- once per silence (notify marks it by its last report), and one retired
-- long ago is not asked about for ever.

-- FORCE makes policies apply to the owner too (unless superuser): this one
-- lets it read stacks across tenants, as 0007's lookups do for agents.
DO $$
BEGIN
    EXECUTE format ('CREATE POLICY stacks_silent_lookup ON stacks FOR SELECT TO %I USING (true)',
                    current_user);
END
$$;

CREATE FUNCTION drift_silent_stacks (quiet_for interval, look_back interval, max_rows integer)
RETURNS TABLE (tenant_id uuid, tenant_name text, stack text, last_report_id text,
               last_report_us bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT s.tenant_id, t.name, s.name, s.last_report_id,
           (extract (epoch FROM s.last_report_at) * 1000000)::bigint
      FROM public.stacks s JOIN public.tenants t ON t.id = s.tenant_id
     WHERE s.last_report_id IS NOT NULL
       AND s.last_report_at < now () - quiet_for
       AND s.last_report_at >= now () - quiet_for - look_back
     ORDER BY s.last_report_at DESC
     LIMIT max_rows;
$$;

-- The question walks every tenant's stacks by their last report time.
CREATE INDEX stacks_last_report ON stacks (last_report_at);

REVOKE ALL ON FUNCTION drift_silent_stacks (interval, interval, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_silent_stacks (interval, interval, integer) TO drift_app;
