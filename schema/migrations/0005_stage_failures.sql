-- Why a journal entry's last delivery failed: the stage that failed it,
-- on which attempt, and the reason it gave. A worker records it when its
-- stage fails a report; the replayer puts it into the dead letter when the
-- attempts run out, so the operator reads the cause, not only "not finished";
-- archiving the entry (it finished after all) forgets it.
CREATE TABLE drift_failures (
    journal_id bigint      PRIMARY KEY,
    stage      text        NOT NULL,
    attempt    integer     NOT NULL,
    reason     text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT now()
);
