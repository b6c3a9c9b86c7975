-- The durable journal: every accepted report until its last stage acks it
-- (logged: a crash must never empty it), and the dead letters that ran out
-- of attempts.
SELECT pgmq.create('drift_journal');
SELECT pgmq.create('drift_dead');
