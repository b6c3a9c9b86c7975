-- The command channel (issue 19, proto/AGENT-LINK.md section 7): what a
-- person asked an agent to do, and what became of it.
--
-- agent_commands holds one row per command, made by the API (check now;
-- later remediation plans and applies) under the tenant's row-level
-- security. Ingest sends an agent its commands still 'pending' after each
-- Welcome, and at once when one is made: the insert trigger NOTIFYs
-- channel drift_commands with the agent's id, which ingest LISTENs to.
-- The agent answers with numbered updates; agent_command_updates keeps
-- each once, by (command, seq), so a resent update is acked and not
-- stored twice. drift_command_update is the one place that decides
-- whether an update may follow the stored state, so ingest stays a
-- transport. Both functions run as the caller (drift_app) and set the
-- tenant themselves: the policies apply, and a command of another agent
-- or tenant is simply not found.

CREATE TABLE agent_commands (
    tenant_id         uuid        NOT NULL REFERENCES tenants ON DELETE CASCADE,
    id                uuid        NOT NULL DEFAULT gen_random_uuid (),
    agent_id          uuid        NOT NULL,
    -- '' for a CHECK of all the agent's stacks
    stack             text        NOT NULL DEFAULT '' CHECK (length (stack) <= 200),
    kind              text        NOT NULL CONSTRAINT agent_commands_kind_known
        CHECK (kind IN ('check', 'plan', 'plan_refresh_only', 'apply')),
    -- PLAN: resource addresses (-target); empty: the whole stack
    targets           text []     NOT NULL DEFAULT '{}',
    -- APPLY: the plan command whose plan file is applied
    plan_command_id   uuid,
    -- APPLY: the approved plan file's hash; PLAN: the hash the agent reported
    plan_sha256       text        CHECK (plan_sha256 ~ '^[0-9a-f]{64}$'),
    max_plan_age_s    integer     NOT NULL DEFAULT 0 CHECK (max_plan_age_s >= 0),
    timeout_s         integer     NOT NULL DEFAULT 0 CHECK (timeout_s >= 0),
    state             text        NOT NULL DEFAULT 'pending' CONSTRAINT agent_commands_state_known
        CHECK (state IN ('pending', 'received', 'running', 'succeeded', 'failed', 'refused',
                         'timed_out')),
    -- the seq of the last update stored (0: none yet)
    last_seq          integer     NOT NULL DEFAULT 0,
    -- who asked: the user's (or API token's) id and email or name
    requested_by_id   uuid,
    requested_by      text        NOT NULL,
    -- who approved (remediation: an apply), and when
    approved_by_id    uuid,
    approved_by       text,
    approved_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now (),
    received_at       timestamptz,
    started_at        timestamptz,
    finished_at       timestamptz,
    exit_code         integer,
    message           text,
    -- CHECK (and the check after APPLY): the report the check produced
    report_id         text        CHECK (length (report_id) <= 128),
    -- PLAN: `show -json` of the plan, redacted by the agent
    plan_json         jsonb,
    -- output kept (bytes of its lines) and lines dropped past the 1 MiB cap
    output_bytes      bigint      NOT NULL DEFAULT 0,
    output_dropped    bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id),
    CONSTRAINT agent_commands_approved CHECK ((approved_at IS NULL) = (approved_by IS NULL))
);
-- Ingest's question after a Welcome: this agent's commands not yet received.
CREATE INDEX agent_commands_pending ON agent_commands (tenant_id, agent_id, created_at)
    WHERE state = 'pending';
-- The API's list, newest first.
CREATE INDEX agent_commands_created ON agent_commands (tenant_id, created_at DESC);

CREATE TABLE agent_command_updates (
    tenant_id   uuid        NOT NULL,
    command_id  uuid        NOT NULL,
    seq         integer     NOT NULL CHECK (seq >= 1),
    state       text        NOT NULL,
    -- output lines since the previous update, as kept (capped)
    output      text []     NOT NULL DEFAULT '{}',
    message     text,
    received_at timestamptz NOT NULL DEFAULT now (),
    PRIMARY KEY (tenant_id, command_id, seq),
    FOREIGN KEY (tenant_id, command_id) REFERENCES agent_commands (tenant_id, id)
        ON DELETE CASCADE
);

ALTER TABLE agent_commands ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_commands FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_commands_tenant ON agent_commands
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);
ALTER TABLE agent_command_updates ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_command_updates FORCE ROW LEVEL SECURITY;
CREATE POLICY agent_command_updates_tenant ON agent_command_updates
    USING (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid)
    WITH CHECK (tenant_id = nullif (current_setting ('drift.tenant', true), '')::uuid);

-- A new command wakes ingest: the payload is the agent's id, so ingest
-- asks only about an agent it has connected.
CREATE FUNCTION drift_commands_notify () RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify ('drift_commands', NEW.agent_id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER agent_commands_notify AFTER INSERT ON agent_commands
    FOR EACH ROW EXECUTE FUNCTION drift_commands_notify ();

-- The agent's commands not yet received, oldest first, as ingest sends them.
CREATE FUNCTION drift_commands_pending (tenant uuid, agent uuid)
RETURNS TABLE (id uuid, kind text, stack text, targets text [], plan_command_id uuid,
               plan_sha256 text, max_plan_age_s integer, timeout_s integer, created_us bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config ('drift.tenant', tenant::text, true);
    RETURN QUERY
        SELECT c.id, c.kind, c.stack, c.targets, c.plan_command_id, c.plan_sha256,
               c.max_plan_age_s, c.timeout_s,
               (extract (epoch FROM c.created_at) * 1000000)::bigint
          FROM agent_commands c
         WHERE c.tenant_id = tenant AND c.agent_id = agent AND c.state = 'pending'
         ORDER BY c.created_at, c.id
         LIMIT 64;
END
$$;

-- Whether state may follow the stored one (section 7): pending → received
-- → running (repeatable, with more output) → one final state.
CREATE FUNCTION drift_command_state_follows (stored text, next text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE stored
        WHEN 'pending' THEN next = 'received'
        WHEN 'received' THEN next IN ('running', 'succeeded', 'failed', 'refused', 'timed_out')
        WHEN 'running' THEN next IN ('running', 'succeeded', 'failed', 'timed_out')
        ELSE false
    END;
$$;

-- Store one update of agent's command. Answers 'stored', 'duplicate' (seq
-- already stored: ack it again), 'not_found' (no such command of this
-- agent), 'out_of_order' (a seq beyond the next) or 'bad_state' (the state
-- cannot follow the stored one). Output lines past 1 MiB per command are
-- counted, not kept.
CREATE FUNCTION drift_command_update (tenant uuid, agent uuid, command uuid, seq integer,
                                      state text, output text [], message text,
                                      exit_code integer, plan_sha256 text, plan_json jsonb,
                                      report_id text)
RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    c agent_commands;
    kept text [] := '{}';
    bytes bigint;
    dropped bigint := 0;
    line text;
    final boolean := state IN ('succeeded', 'failed', 'refused', 'timed_out');
BEGIN
    PERFORM set_config ('drift.tenant', tenant::text, true);
    SELECT * INTO c FROM agent_commands a
     WHERE a.tenant_id = tenant AND a.id = command FOR UPDATE;
    IF NOT FOUND OR c.agent_id <> agent THEN
        RETURN 'not_found';
    END IF;
    IF seq <= c.last_seq THEN
        RETURN 'duplicate';
    END IF;
    IF seq <> c.last_seq + 1 THEN
        RETURN 'out_of_order';
    END IF;
    IF NOT drift_command_state_follows (c.state, state) THEN
        RETURN 'bad_state';
    END IF;
    bytes := c.output_bytes;
    FOREACH line IN ARRAY coalesce (output, '{}') LOOP
        IF bytes + octet_length (line) <= 1048576 THEN
            kept := kept || line;
            bytes := bytes + octet_length (line);
        ELSE
            dropped := dropped + 1;
        END IF;
    END LOOP;
    INSERT INTO agent_command_updates (tenant_id, command_id, seq, state, output, message)
    VALUES (tenant, command, seq, state, kept, nullif (message, ''));
    UPDATE agent_commands a SET
        state = drift_command_update.state,
        last_seq = seq,
        received_at = CASE WHEN drift_command_update.state = 'received' THEN now ()
                           ELSE a.received_at END,
        started_at = CASE WHEN drift_command_update.state = 'running'
                          THEN coalesce (a.started_at, now ()) ELSE a.started_at END,
        finished_at = CASE WHEN final THEN now () ELSE a.finished_at END,
        exit_code = coalesce (drift_command_update.exit_code, a.exit_code),
        message = coalesce (nullif (drift_command_update.message, ''), a.message),
        report_id = coalesce (nullif (drift_command_update.report_id, ''), a.report_id),
        plan_sha256 = CASE WHEN a.kind IN ('plan', 'plan_refresh_only')
                           THEN coalesce (nullif (drift_command_update.plan_sha256, ''),
                                          a.plan_sha256)
                           ELSE a.plan_sha256 END,
        plan_json = coalesce (drift_command_update.plan_json, a.plan_json),
        output_bytes = bytes,
        output_dropped = a.output_dropped + dropped
     WHERE a.tenant_id = tenant AND a.id = command;
    RETURN 'stored';
END
$$;

GRANT SELECT, INSERT, UPDATE ON agent_commands TO drift_app;
GRANT SELECT, INSERT ON agent_command_updates TO drift_app;
GRANT EXECUTE ON FUNCTION drift_commands_pending (uuid, uuid),
                          drift_command_state_follows (text, text),
                          drift_command_update (uuid, uuid, uuid, integer, text, text [], text,
                                                integer, text, jsonb, text) TO drift_app;
