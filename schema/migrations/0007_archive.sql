-- The archive: stacks, their reports and drift items, suppressions and
-- notification channels, and row-level security on every tenant-owned
-- table (these and tenants, agents, tenant_rules, tenant_ignores).
--
-- Isolation: the services connect as a LOGIN user in the group role
-- drift_app, which owns nothing, is not superuser and has no BYPASSRLS. In
-- each transaction they call drift_set_tenant (id), a transaction-local
-- setting of drift.tenant; the policies let a row be seen and written only
-- when its tenant_id equals that setting, and a missing or empty setting
-- matches no row (nullif makes '' NULL, so there is never a cast error and
-- never "everything"). FORCE makes the policies apply to the tables' owner
-- too; only superusers and BYPASSRLS roles skip them. This guards against
-- application bugs (a forgotten WHERE, a wrong join), not against arbitrary
-- SQL: a session that can run its own SQL can call set_config itself.
--
-- Severities are numbers so they sort: 0 none, 1 info, 2 low, 3 medium,
-- 4 high, 5 critical (proto Severity).

-- ---------------------------------------------------------------------------
-- The application's group role. A cluster may already have it (several
-- databases, or a deployment that created it first): create it only if
-- missing, and never give it more than NOLOGIN NOSUPERUSER NOBYPASSRLS.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drift_app') THEN
        BEGIN
            CREATE ROLE drift_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;   -- another database's migration created it just now
        END;
    ELSIF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'drift_app'
                                         AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role drift_app exists with SUPERUSER or BYPASSRLS: row-level security would not hold';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- Tables

-- Composite keys (tenant_id, id) below let child rows reference their
-- parent together with its tenant, so a row can never point into another
-- tenant's stack or agent.
ALTER TABLE agents ADD CONSTRAINT agents_tenant_id_key UNIQUE (tenant_id, id);

CREATE TABLE stacks (
    tenant_id       uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id              uuid        NOT NULL DEFAULT gen_random_uuid (),
    name            text        NOT NULL CONSTRAINT stacks_name_format
        CHECK (name <> '' AND length (name) <= 200),
    engine          text        NOT NULL CONSTRAINT stacks_engine_known
        CHECK (engine IN ('terraform', 'tofu')),
    last_report_id  text,
    last_report_at  timestamptz,
    last_success_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE reports (
    tenant_id     uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    report_id     text        NOT NULL CONSTRAINT reports_report_id_format
        CHECK (report_id <> '' AND length (report_id) <= 128),
    stack_id      uuid        NOT NULL,
    agent_id      uuid        NOT NULL,
    received_at   timestamptz NOT NULL,
    normalized_at timestamptz,
    scored_at     timestamptz,
    archived_at   timestamptz NOT NULL DEFAULT now (),
    status        text        NOT NULL CONSTRAINT reports_status_known
        CHECK (status IN ('ok', 'failed')),
    reason        text,
    severity      smallint    NOT NULL DEFAULT 0 CONSTRAINT reports_severity_range
        CHECK (severity BETWEEN 0 AND 5),
    score         real        NOT NULL DEFAULT 0 CHECK (score >= 0),
    counts        jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof (counts) = 'object'),
    object_key    text,
    key_id        text,
    PRIMARY KEY (tenant_id, report_id),
    FOREIGN KEY (tenant_id, stack_id) REFERENCES stacks (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id),
    -- a failed report says why; an ok one has no reason
    CONSTRAINT reports_reason_iff_failed CHECK ((status = 'failed') = (reason IS NOT NULL)),
    -- an object is stored sealed under a key: both or neither
    CONSTRAINT reports_object_sealed CHECK ((object_key IS NULL) = (key_id IS NULL))
);

CREATE TABLE drift_items (
    tenant_id          uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    stack_id           uuid        NOT NULL,
    fingerprint        text        NOT NULL CHECK (fingerprint <> ''),
    address            text        NOT NULL,
    type               text        NOT NULL,
    kind               text        NOT NULL CONSTRAINT drift_items_kind_known
        CHECK (kind IN ('modified', 'deleted', 'replaced', 'moved', 'ignored')),
    class              text        NOT NULL CONSTRAINT drift_items_class_known
        CHECK (class IN ('noise', 'mirror', 'real')),
    -- attribute changes after masking: never a secret value
    changes            jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof (changes) = 'array'),
    severity           smallint    NOT NULL CONSTRAINT drift_items_severity_range
        CHECK (severity BETWEEN 0 AND 5),
    score              real        NOT NULL DEFAULT 0 CHECK (score >= 0),
    reasons            jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof (reasons) = 'array'),
    suppressed         boolean     NOT NULL DEFAULT false,
    suppressed_by      text,
    first_seen         timestamptz NOT NULL,
    last_seen          timestamptz NOT NULL,
    resolved_at        timestamptz,
    opened_by_report   text        NOT NULL,
    last_report        text        NOT NULL,
    resolved_by_report text,
    PRIMARY KEY (tenant_id, stack_id, fingerprint),
    FOREIGN KEY (tenant_id, stack_id) REFERENCES stacks (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT drift_items_seen_order CHECK (last_seen >= first_seen),
    CONSTRAINT drift_items_resolved_by CHECK ((resolved_at IS NULL) = (resolved_by_report IS NULL)),
    CONSTRAINT drift_items_suppressed_by CHECK (suppressed OR suppressed_by IS NULL)
);

CREATE TABLE suppressions (
    tenant_id  uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id         uuid        NOT NULL DEFAULT gen_random_uuid (),
    -- a .driftignore line (docs/IGNORE.md), checked by the command that writes it
    pattern    text        NOT NULL CHECK (pattern <> ''),
    reason     text        NOT NULL CHECK (reason <> ''),
    expires_at timestamptz,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE notification_channels (
    tenant_id      uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id             uuid        NOT NULL DEFAULT gen_random_uuid (),
    kind           text        NOT NULL CONSTRAINT notification_channels_kind_known
        CHECK (kind IN ('email', 'webhook')),
    name           text        NOT NULL CONSTRAINT notification_channels_name_format
        CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    settings       jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof (settings) = 'object'),
    min_severity   smallint    NOT NULL DEFAULT 4 CHECK (min_severity BETWEEN 1 AND 5),
    -- 0: one message per report; otherwise one digest every so many seconds
    digest_seconds integer     NOT NULL DEFAULT 0 CHECK (digest_seconds >= 0),
    enabled        boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now (),
    updated_at     timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

-- ---------------------------------------------------------------------------
-- Indexes for the dashboard's questions

-- Open drift of a stack, worst first.
CREATE INDEX drift_items_open ON drift_items (tenant_id, stack_id, severity DESC)
    WHERE resolved_at IS NULL;
-- History of a stack, newest first.
CREATE INDEX reports_stack_history ON reports (tenant_id, stack_id, received_at DESC);
-- Time to fix: resolved items by when they were resolved (first_seen is in the row).
CREATE INDEX drift_items_resolved ON drift_items (tenant_id, resolved_at)
    WHERE resolved_at IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Row-level security

CREATE FUNCTION drift_set_tenant (tenant uuid) RETURNS void
LANGUAGE sql VOLATILE AS $$
    SELECT set_config ('drift.tenant', tenant::text, true);
$$;

DO $$
DECLARE
    t text;
    tenant_column text;
BEGIN
    FOREACH t IN ARRAY ARRAY ['tenants', 'agents', 'tenant_rules', 'tenant_ignores', 'stacks',
                              'reports', 'drift_items', 'suppressions', 'notification_channels']
    LOOP
        tenant_column := CASE t WHEN 'tenants' THEN 'id' ELSE 'tenant_id' END;
        EXECUTE format ('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format ('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format ('CREATE POLICY %I ON %I USING (%I = nullif (current_setting (''drift.tenant'', true), '''')::uuid)'
                        ' WITH CHECK (%I = nullif (current_setting (''drift.tenant'', true), '''')::uuid)',
                        t || '_tenant', t, tenant_column, tenant_column);
    END LOOP;
END
$$;

-- The key registry asks which agent holds a key before it knows the
-- tenant: this function answers that one question across tenants, as its
-- owner (the migration owner), so the application role needs no
-- cross-tenant read. search_path is fixed so a caller cannot substitute
-- its own tables or operators.
CREATE FUNCTION drift_agent_by_key (public_key text)
RETURNS TABLE (id uuid, tenant_id uuid, tenant_name text, name text, public_key text,
               created_at timestamptz, revoked_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.id, a.tenant_id, t.name, a.name, a.public_key, a.created_at, a.revoked_at
      FROM public.agents a JOIN public.tenants t ON t.id = a.tenant_id
     WHERE a.public_key = drift_agent_by_key.public_key;
$$;

-- A SECURITY DEFINER function runs as its owner, and FORCE makes the
-- policies apply to the owner too unless it is superuser or BYPASSRLS:
-- these policies let the owner (the role running this migration) read
-- agents and tenants across tenants, which the lookup needs and the
-- operator commands that run as the owner do anyway. They name the owner,
-- never drift_app, so they do nothing for the services.
DO $$
BEGIN
    EXECUTE format ('CREATE POLICY agents_key_lookup ON agents FOR SELECT TO %I USING (true)',
                    current_user);
    EXECUTE format ('CREATE POLICY tenants_key_lookup ON tenants FOR SELECT TO %I USING (true)',
                    current_user);
END
$$;

-- ---------------------------------------------------------------------------
-- Grants: the least the services need. No sequences (ids are uuids).

REVOKE ALL ON FUNCTION drift_agent_by_key (text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_agent_by_key (text) TO drift_app;
GRANT EXECUTE ON FUNCTION drift_set_tenant (uuid) TO drift_app;
GRANT SELECT ON tenants TO drift_app;
GRANT SELECT ON agents TO drift_app;
GRANT SELECT ON tenant_rules, tenant_ignores TO drift_app;
GRANT SELECT, INSERT, UPDATE, DELETE
   ON stacks, reports, drift_items, suppressions, notification_channels TO drift_app;
