-- People and machines (issue 21): one-time set-password links for invited
-- users, sessions a user ends by hand or by changing their password, users
-- an owner removes, and API tokens for CI jobs and scripts.
--
-- Everything is tenant-owned under the same row-level security as the
-- accounts (0010). A set-password link and an API token both carry their
-- tenant in clear, as a refresh token does, so the server sets the tenant
-- before it looks them up and drift_app never needs a cross-tenant read.
-- Both are stored only as a BLAKE2b-256 hash of their 32 random bytes.

-- Why a session ended: also 'password' (its user changed their password,
-- every other session ends), 'revoked' (the user ended it from the
-- dashboard). The column's unnamed CHECK of 0010 is replaced.
ALTER TABLE sessions DROP CONSTRAINT sessions_revoked_why_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_revoked_why_known
    CHECK (revoked_why IN ('logout', 'reuse', 'disabled', 'password', 'revoked'));

-- A one-time link to set a password: made when an owner invites a user
-- (their account exists, with a password no one knows) or asks for a new
-- link. Spent on first use; a newer link of the same user replaces older
-- ones (they are marked spent when it is made).
CREATE TABLE password_links (
    tenant_id  uuid        NOT NULL,
    id         uuid        NOT NULL DEFAULT gen_random_uuid (),
    user_id    uuid        NOT NULL,
    -- hex BLAKE2b-256 of the link's secret
    hash       text        NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$'),
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now (),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX password_links_user ON password_links (tenant_id, user_id);

-- An API token: a tenant's credential for a machine, named, with its own
-- role (viewer or admin, never owner: tokens do not manage people). Made
-- by a user (user_id; the token can never do more than that user may now,
-- and ends with them) or by the operator with `drift token` (user_id NULL).
CREATE TABLE api_tokens (
    tenant_id    uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id           uuid        NOT NULL DEFAULT gen_random_uuid (),
    name         text        NOT NULL CONSTRAINT api_tokens_name_format
        CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$'),
    role         text        NOT NULL CHECK (role IN ('viewer', 'admin')),
    -- hex BLAKE2b-256 of the token's secret, compared in constant time
    hash         text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    user_id      uuid,
    created_by   text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now (),
    expires_at   timestamptz,
    -- at most a minute old: a use within a minute of the last is not written
    last_used_at timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
-- One live token of a name per tenant; a revoked name may be used again.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (tenant_id, name)
    WHERE revoked_at IS NULL;

-- The tenant policy of 0010, table by table.
ALTER TABLE password_links ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_links FORCE ROW LEVEL SECURITY;
CREATE POLICY password_links_tenant ON password_links
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);
ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY api_tokens_tenant ON api_tokens
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);

-- An owner removes a user: the row goes, with their sessions, links and
-- tokens (the foreign keys cascade). Records that name them keep the email
-- they wrote (suppressions' created_by).
GRANT DELETE ON users TO drift_app;
GRANT SELECT, INSERT, UPDATE ON password_links, api_tokens TO drift_app;
