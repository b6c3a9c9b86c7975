-- Remediation's approval (issue 19, proto/AGENT-LINK.md section 7): a
-- person approves or rejects a plan the agent made, and the tenant says
-- whether the approver must be someone other than the requester.
--
-- A PLAN (or PLAN_REFRESH_ONLY) row is approved when its APPLY row is made
-- (approved_by/at on both) and rejected by rejected_by/at; never both.
-- The unique index makes a second approval of one plan fail in the
-- database, whatever two requests race.
--
-- remediation_settings holds one row per tenant that changed a default;
-- no row means four_eyes on (the safe default).

ALTER TABLE agent_commands
    ADD COLUMN rejected_by_id uuid,
    ADD COLUMN rejected_by    text,
    ADD COLUMN rejected_at    timestamptz,
    ADD CONSTRAINT agent_commands_rejected CHECK ((rejected_at IS NULL) = (rejected_by IS NULL)),
    ADD CONSTRAINT agent_commands_approved_or_rejected
        CHECK (approved_at IS NULL OR rejected_at IS NULL);

-- One APPLY per plan: the plan file is applied at most once.
CREATE UNIQUE INDEX agent_commands_one_apply ON agent_commands (tenant_id, plan_command_id)
    WHERE kind = 'apply';

CREATE TABLE remediation_settings (
    tenant_id   uuid        PRIMARY KEY REFERENCES tenants ON DELETE CASCADE,
    -- a plan may not be approved by the person (or token) that asked for it
    four_eyes   boolean     NOT NULL DEFAULT true,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now ()
);
ALTER TABLE remediation_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE remediation_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY remediation_settings_tenant ON remediation_settings
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);
GRANT SELECT, INSERT, UPDATE ON remediation_settings TO drift_app;

-- A command refused after it started (the agent marks every command
-- RUNNING before it runs; an APPLY whose plan file changed or aged is
-- refused from there) ends REFUSED, as section 7 allows: RUNNING, then one
-- final state.
CREATE OR REPLACE FUNCTION drift_command_state_follows (stored text, next text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE stored
        WHEN 'pending' THEN next = 'received'
        WHEN 'received' THEN next IN ('running', 'succeeded', 'failed', 'refused', 'timed_out')
        WHEN 'running' THEN next IN ('running', 'succeeded', 'failed', 'refused', 'timed_out')
        ELSE false
    END;
$$;
