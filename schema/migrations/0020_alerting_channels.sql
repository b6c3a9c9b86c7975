-- PagerDuty, Microsoft Teams and Opsgenie channels (issue 21).
--
-- Three more kinds of notification channel. Their settings are checked by
-- actors/notify/channel.c like the others'; PagerDuty's routing key and
-- Opsgenie's API key are credentials, kept only sealed in password_sealed
-- (schema 0016: the column holds a channel's one credential, whatever its
-- kind calls it), so a channel of either kind without one is refused
-- here too. A Teams webhook's URL is its credential as a Slack one is:
-- readers see only its origin.

ALTER TABLE notification_channels
    DROP CONSTRAINT notification_channels_kind_known,
    ADD CONSTRAINT notification_channels_kind_known
        CHECK (kind IN ('email', 'webhook', 'pagerduty', 'teams', 'opsgenie')),
    ADD CONSTRAINT notification_channels_key_sealed
        CHECK (kind NOT IN ('pagerduty', 'opsgenie') OR password_sealed IS NOT NULL);
