-- The audit log (issue 19, item 5): who did what to a tenant, when and
-- from where. Logins (and failed ones), logouts, password changes, people
-- and their roles, API tokens, suppressions, channels, agent keys and
-- certificates, and (once the command channel lands) every command.
--
-- Append-only for the application: drift_app may read and add its own
-- tenant's entries and nothing else. It has no UPDATE or DELETE grant and
-- there is no policy for either, so even a future grant by mistake would
-- change no row. Pruning old entries is the operator's (the table owner's)
-- job, never the service's.
--
-- Entries are written by drift_audit () in the same transaction as the
-- change they describe, so a change without its entry cannot commit. The
-- tenant, the actor and the source address come from transaction or
-- session settings the caller set once (drift.tenant by drift_set_tenant,
-- drift.actor and drift.source by the API for each request, by `drift`
-- commands for their connection), so a handler only names what it did.

CREATE TABLE audit_log (
    -- NULL only for a failed login with an address no account has: that
    -- attempt belongs to no tenant, and drift_app (whose policy compares
    -- tenant_id with drift.tenant) never sees it; the operator does.
    tenant_id   uuid        REFERENCES tenants ON DELETE CASCADE,
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now (),
    -- a user's id, 'token:ID' (an API token), 'cli:NAME' (a `drift`
    -- command run by the OS user NAME) or 'anonymous' (a failed login)
    actor       text        NOT NULL CHECK (actor <> '' AND length (actor) <= 300),
    -- what the actor is called for people reading the log (an email
    -- address, a token's name), as it was at the time
    actor_label text        NOT NULL DEFAULT '',
    -- lower case, dotted: 'login.failure', 'channel.create', 'logout'
    action      text        NOT NULL CHECK (action ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)*$'),
    -- what was acted on (an id or a name), '' when nothing in particular
    target      text        NOT NULL DEFAULT '' CHECK (length (target) <= 300),
    -- the rest, never a secret: names, roles, what changed
    detail      jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof (detail) = 'object'),
    -- the client's address as the API saw it, 'local' for a `drift` command
    source      text        NOT NULL DEFAULT ''
);
-- The dashboard lists a tenant's entries newest first, a page at a time.
CREATE INDEX audit_log_newest ON audit_log (tenant_id, id DESC);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_read ON audit_log FOR SELECT
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);
CREATE POLICY audit_log_append ON audit_log FOR INSERT
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);

-- One entry in the current tenant (or in tenant, for a `drift` command that
-- works across tenants as the operator) by the current actor; its id. An
-- entry without an actor is refused: every change must say who made it.
CREATE FUNCTION drift_audit (action text, target text, detail jsonb DEFAULT '{}',
                             tenant uuid DEFAULT NULL)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    actor text := nullif (current_setting ('drift.actor', true), '');
    entry bigint;
BEGIN
    IF actor IS NULL THEN
        RAISE EXCEPTION 'drift_audit: no actor set (drift.actor)';
    END IF;
    INSERT INTO public.audit_log (tenant_id, actor, actor_label, action, target, detail, source)
    VALUES (coalesce (drift_audit.tenant,
                      nullif (current_setting ('drift.tenant', true), '')::uuid),
            actor, coalesce (current_setting ('drift.actor_label', true), ''),
            drift_audit.action, coalesce (drift_audit.target, ''),
            coalesce (drift_audit.detail, '{}'),
            coalesce (current_setting ('drift.source', true), ''))
    RETURNING id INTO entry;
    RETURN entry;
END
$$;

-- As for the account lookup (0010): the function below runs as its owner,
-- which FORCE subjects to the policies; this lets the owner (the role
-- running this migration) add a failed login to any tenant, or to none.
-- It names the owner, never drift_app.
DO $$
BEGIN
    EXECUTE format ('CREATE POLICY audit_log_login_failure ON audit_log FOR INSERT TO %I'
                    ' WITH CHECK (action = ''login.failure'')', current_user);
END
$$;

-- A failed login: the attempt goes to the tenant of the account the
-- address names when there is one (its admins see someone tried), else to
-- no tenant (only the operator sees it). drift_app cannot see accounts
-- across tenants, so this looks the address up as the table owner; it
-- answers nothing, so a caller learns nothing about who exists.
CREATE FUNCTION drift_audit_login_failure (email text, source text, reason text)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    INSERT INTO public.audit_log (tenant_id, actor, actor_label, action, target, detail, source)
    SELECT (SELECT u.tenant_id FROM public.users u
             WHERE u.email = lower (drift_audit_login_failure.email)),
           'anonymous', '', 'login.failure', lower (drift_audit_login_failure.email),
           jsonb_build_object ('email', lower (drift_audit_login_failure.email),
                               'reason', drift_audit_login_failure.reason),
           coalesce (drift_audit_login_failure.source, '');
$$;

REVOKE ALL ON FUNCTION drift_audit (text, text, jsonb, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION drift_audit_login_failure (text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_audit (text, text, jsonb, uuid) TO drift_app;
GRANT EXECUTE ON FUNCTION drift_audit_login_failure (text, text, text) TO drift_app;
GRANT SELECT, INSERT ON audit_log TO drift_app;
GRANT USAGE ON SEQUENCE audit_log_id_seq TO drift_app;
