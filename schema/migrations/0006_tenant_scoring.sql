-- A tenant's own scoring: rules that add to or replace the built-in pack
-- (docs/RULES.md, by rule id) and suppressions (docs/IGNORE.md). Written by
-- `drift tenant rules|ignore`, which check the text first; read by the score
-- stage, which looks at updated_at every few seconds, so a change takes
-- effect without a restart.
CREATE TABLE tenant_rules (
    tenant_id  uuid        PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    rules      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_ignores (
    tenant_id   uuid        PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    driftignore text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
