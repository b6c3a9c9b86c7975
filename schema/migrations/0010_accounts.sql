-- Accounts of the dashboard API (`drift api`, docs/API.md): users, their
-- sessions and the refresh tokens that keep a session alive.
--
-- Everything is tenant-owned and under the same row-level security as the
-- archive (0007): drift_app sees a row only when its tenant_id is the
-- transaction's drift.tenant. Two questions come before a tenant is known,
-- and each is one SECURITY DEFINER function with a fixed search_path, so
-- drift_app never needs a cross-tenant read: signing up (create a tenant
-- and its owner, atomically, under the signup policy) and logging in (which
-- tenant holds this email address?). Refresh tokens carry their tenant in
-- clear (TENANT_ID.SESSION_ID.SECRET), so refreshing needs neither.
--
-- A refresh token is stored only as a hash (BLAKE2b-256 of its 32 random
-- bytes, hex). Each use spends it and issues the next one of the same
-- session; a spent token kept in refresh_tokens is how a replay (a stolen
-- token used after its owner, or the other way round) is recognised, and
-- it revokes the whole session.

CREATE TABLE users (
    tenant_id     uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id            uuid        NOT NULL DEFAULT gen_random_uuid (),
    -- lower-cased by the API; unique across tenants (one login, one tenant)
    email         text        NOT NULL CONSTRAINT users_email_format
        CHECK (email = lower (email) AND length (email) BETWEEN 3 AND 254
               AND email ~ '^[^@[:space:]]+@[^@[:space:]]+$'),
    -- crypto_pwhash_str (Argon2id), never the password
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role          text        NOT NULL CONSTRAINT users_role_known
        CHECK (role IN ('owner', 'admin', 'viewer')),
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id)
);
CREATE UNIQUE INDEX users_email ON users (email);

CREATE TABLE sessions (
    tenant_id    uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid (),
    user_id      uuid        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now (),
    -- last refresh; expires_at moves with it (30 days after the last use)
    rotated_at   timestamptz NOT NULL DEFAULT now (),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    -- logout, reuse (a spent refresh token came back), disabled
    revoked_why  text CHECK (revoked_why IN ('logout', 'reuse', 'disabled')),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT sessions_revoked_why CHECK ((revoked_at IS NULL) = (revoked_why IS NULL))
);

CREATE TABLE refresh_tokens (
    tenant_id  uuid        NOT NULL,
    -- hex BLAKE2b-256 of the token's secret
    hash       text        NOT NULL PRIMARY KEY CHECK (hash ~ '^[0-9a-f]{64}$'),
    session_id uuid        NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now (),
    -- set when it was exchanged for the next one; presenting it again is reuse
    spent_at   timestamptz,
    FOREIGN KEY (tenant_id, session_id) REFERENCES sessions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (tenant_id, session_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY ['users', 'sessions', 'refresh_tokens']
    LOOP
        EXECUTE format ('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format ('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format ('CREATE POLICY %I ON %I USING (tenant_id = nullif (current_setting (''drift.tenant'', true), '''')::uuid)'
                        ' WITH CHECK (tenant_id = nullif (current_setting (''drift.tenant'', true), '''')::uuid)',
                        t || '_tenant', t);
    END LOOP;
END
$$;

-- As for the key registry (0007): the functions below run as their owner,
-- which FORCE subjects to the policies; this lets the owner (the role
-- running this migration) read users across tenants. It names the owner,
-- never drift_app.
DO $$
BEGIN
    EXECUTE format ('CREATE POLICY users_account_lookup ON users FOR SELECT TO %I USING (true)',
                    current_user);
END
$$;

-- ---------------------------------------------------------------------------
-- Signup: a new tenant and its first user, the owner, in one step.
--
-- policy is the server's --signup: 'open' (anyone), 'first' (only while no
-- tenant has a user: the installation's first account), 'closed'. A
-- refused signup raises insufficient_privilege (42501); a taken tenant
-- name or email raises unique_violation (23505, constraint tenants_name_key
-- or users_email). The lock serialises concurrent signups, so two racing
-- first signups cannot both see "no user yet". The rows are written under
-- the new tenant (drift.tenant set here, transaction-local), as the
-- policies require.
CREATE FUNCTION drift_signup (tenant_name text, email text, password_hash text, policy text)
RETURNS TABLE (tenant_id uuid, user_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    new_tenant uuid := gen_random_uuid ();
    new_user uuid := gen_random_uuid ();
BEGIN
    IF policy NOT IN ('open', 'first', 'closed') THEN
        RAISE EXCEPTION 'unknown signup policy %', policy USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM pg_advisory_xact_lock (hashtext ('drift_signup'));
    IF policy = 'closed'
    OR (policy = 'first' AND EXISTS (SELECT 1 FROM public.users)) THEN
        RAISE EXCEPTION 'signup is closed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    PERFORM set_config ('drift.tenant', new_tenant::text, true);
    INSERT INTO public.tenants (id, name) VALUES (new_tenant, tenant_name);
    INSERT INTO public.users (tenant_id, id, email, password_hash, role)
         VALUES (new_tenant, new_user, drift_signup.email, drift_signup.password_hash, 'owner');
    RETURN QUERY SELECT new_tenant, new_user;
END
$$;

-- Login: who holds this email address, in which tenant. Answers the
-- password hash so the server can verify it; nothing else leaves.
CREATE FUNCTION drift_user_by_email (email text)
RETURNS TABLE (id uuid, tenant_id uuid, tenant_name text, role text, password_hash text,
               disabled boolean)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT u.id, u.tenant_id, t.name, u.role, u.password_hash, u.disabled
      FROM public.users u JOIN public.tenants t ON t.id = u.tenant_id
     WHERE u.email = lower (drift_user_by_email.email);
$$;

-- ---------------------------------------------------------------------------
-- Grants: what drift api needs and no more. drift_app never deletes a user
-- (they are disabled) nor a session (revoked); refresh tokens are only
-- issued and spent.

REVOKE ALL ON FUNCTION drift_signup (text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION drift_user_by_email (text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_signup (text, text, text, text) TO drift_app;
GRANT EXECUTE ON FUNCTION drift_user_by_email (text) TO drift_app;
GRANT SELECT, INSERT, UPDATE ON users, sessions TO drift_app;
GRANT SELECT, INSERT, UPDATE ON refresh_tokens TO drift_app;
-- /readyz compares the applied migrations with the binary's.
GRANT SELECT ON drift_migrations TO drift_app;
