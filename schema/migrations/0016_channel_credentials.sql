-- A channel's SMTP password, sealed: the value itself, encrypted by the
-- API or `drift channel add` under the operator's channel.key (lib/seal,
-- AES-256-GCM, bound to the tenant and channel ids), opened only by the
-- process that sends. Hex of the sealed blob; NULL when the channel has
-- no credentials.
--
-- Before this, settings named where notify should read the password:
-- password_file or password_env. Those were a tenant's choice of which
-- file or variable of the server to send to an SMTP server of their own,
-- so they are no longer read (issue 16). A channel that still names one
-- is disabled here, the names are dropped from its settings, and its
-- last_error says what to do: add it again with the password itself.
-- Nothing is read from files or the environment to carry it over, since
-- a migration cannot tell the operator's file from a server secret.

ALTER TABLE notification_channels
    ADD COLUMN password_sealed text
        CONSTRAINT notification_channels_password_sealed_hex
        CHECK (password_sealed ~ '^([0-9a-f]{2})+$');

-- FORCE makes row-level security apply to the owner running migrations;
-- this one statement is about every tenant, so it is lifted around it.
ALTER TABLE notification_channels NO FORCE ROW LEVEL SECURITY;
UPDATE notification_channels
   SET enabled = false,
       settings = settings - 'password_file' - 'password_env',
       last_error = 'disabled by the upgrade: password_file and password_env are no longer '
                    'read; add the channel again with its password, which is stored encrypted',
       last_error_at = now (),
       updated_at = now ()
 WHERE settings ? 'password_file' OR settings ? 'password_env';
ALTER TABLE notification_channels FORCE ROW LEVEL SECURITY;
