-- Tenants and their agents' keys: the local CA of the self-hosted mode.
-- An agent is known by its CURVE public key (Z85, 40 characters); ingest
-- takes the tenant from the key ZAP authenticated, never from the payload.
-- A revoked agent keeps its row (revoked_at set) so its key stays refused and
-- the history shows who held it; the name can then be issued again, which is
-- why only names of unrevoked agents are unique. Names are lower-case slugs
-- so they can appear in logs, metrics labels and file names unquoted.
-- Row-level security for these tables comes with a later migration.
CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid (),
    name text NOT NULL UNIQUE CONSTRAINT tenants_name_format
        CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now ()
);

CREATE TABLE agents (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid (),
    tenant_id uuid NOT NULL REFERENCES tenants,
    name text NOT NULL CONSTRAINT agents_name_format
        CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    -- exactly 40 characters of the Z85 alphabet (ZeroMQ RFC 32)
    public_key text NOT NULL UNIQUE CONSTRAINT agents_public_key_format
        CHECK (public_key ~ '^[]0-9a-zA-Z.:+=^!/*?&<>()[{}@%$#-]{40}$'),
    created_at timestamptz NOT NULL DEFAULT now (),
    revoked_at timestamptz
);

CREATE UNIQUE INDEX agents_active_name ON agents (tenant_id, name) WHERE revoked_at IS NULL;
