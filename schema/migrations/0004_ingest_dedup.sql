-- Ingest's idempotent journal send: a report id resent by an agent (its ACK
-- was lost, it restarted and replayed its spool) gets the journal entry it
-- already has, never a second one.
--
-- drift_ingested remembers, per tenant and report id, the journal entry made
-- for it. drift_journal_accept sends a group of journal messages (a jsonb
-- array of the journal's messages, which carry tenant and report_id) with
-- pgmq.send_batch, claims each report in drift_ingested, deletes again
-- (pgmq.delete) the entries of reports that were already claimed (resent,
-- or repeated within the group), and returns for every input, in order,
-- its journal msg_id and whether it was a duplicate. It is one statement, so
-- one transaction: the rows in drift_ingested commit exactly with the
-- entries, and a deleted duplicate was never visible. Two ingests racing on
-- one report id: the primary key makes the second wait for the first's
-- commit, then it finds the report claimed.

CREATE TABLE drift_ingested (
    tenant      text        NOT NULL,
    report_id   text        NOT NULL,
    msg_id      bigint      NOT NULL,
    accepted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, report_id)
);

CREATE FUNCTION drift_journal_accept (queue_name text, messages jsonb, delay integer)
RETURNS TABLE (ord bigint, msg_id bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
    ids     bigint[];   -- the new entries, in the order of messages
    claimed integer;    -- how many of them were new reports
    lost    bigint[];   -- entries for reports the journal already had
BEGIN
    -- Optimistic: send everything, then claim each (tenant, report id).
    -- Resends are rare, so the common case is one send and one insert;
    -- msg_ids come from a sequence in insertion order, so sorted they line
    -- up with the messages as sent.
    SELECT array_agg (s.id ORDER BY s.id) INTO ids
      FROM pgmq.send_batch (queue_name,
                            ARRAY (SELECT e.m
                                     FROM jsonb_array_elements (messages) WITH ORDINALITY AS e (m, i)
                                    ORDER BY e.i),
                            delay) AS s (id);
    INSERT INTO drift_ingested (tenant, report_id, msg_id)
    SELECT e.m->>'tenant', e.m->>'report_id', ids [e.i]
      FROM jsonb_array_elements (messages) WITH ORDINALITY AS e (m, i)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS claimed = ROW_COUNT;
    IF claimed = cardinality (ids) THEN
        RETURN QUERY SELECT g::bigint, ids [g], false FROM generate_subscripts (ids, 1) AS g;
        RETURN;
    END IF;
    -- Some were already there (or repeated within the group): their new
    -- entries go again, and each input gets the entry its report has.
    SELECT array_agg (x) INTO lost FROM unnest (ids) AS x
     WHERE NOT EXISTS (SELECT 1 FROM drift_ingested d WHERE d.msg_id = x);
    PERFORM pgmq.delete (queue_name, lost);
    RETURN QUERY
        SELECT e.i, d.msg_id, d.msg_id <> ids [e.i]
          FROM jsonb_array_elements (messages) WITH ORDINALITY AS e (m, i)
          JOIN drift_ingested d ON d.tenant = e.m->>'tenant' AND d.report_id = e.m->>'report_id'
         ORDER BY e.i;
END
$$;
