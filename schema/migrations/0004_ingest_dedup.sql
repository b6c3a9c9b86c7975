-- Ingest's idempotent journal send: a report id resent by an agent (its ACK
-- was lost, it restarted and replayed its spool) gets the journal entry it
-- already has, never a second one.
--
-- drift_ingested remembers, per tenant and report id, the journal entry made
-- for it. drift_journal_accept sends a group of journal messages (a jsonb
-- array of the journal's messages, which carry tenant and report_id) with
-- pgmq.send_batch, skipping reports already in drift_ingested and repeats
-- within the group, and returns for every input, in order, its journal
-- msg_id and whether it was a duplicate. It is one statement, so one
-- transaction: the rows in drift_ingested commit exactly with the entries.
-- Two ingests racing on one report id: the primary key makes the second
-- wait for the first's commit; the loser deletes the copy it just sent
-- (pgmq.delete, in its own still-open transaction) and answers duplicate.

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
    tenants   text[];
    reports   text[];
    bodies    jsonb[];
    fresh     bigint[];   -- input positions that need a journal entry
    ids       bigint[];   -- their new msg_ids, in the same order
    lost      bigint[];   -- entries a concurrent ingest beat us to
BEGIN
    SELECT array_agg (m->>'tenant' ORDER BY i), array_agg (m->>'report_id' ORDER BY i),
           array_agg (m ORDER BY i)
      INTO tenants, reports, bodies
      FROM jsonb_array_elements (messages) WITH ORDINALITY AS e (m, i);

    SELECT array_agg (f.i ORDER BY f.i) INTO fresh
      FROM (SELECT DISTINCT ON (u.t, u.r) u.i, u.t, u.r
              FROM unnest (tenants, reports) WITH ORDINALITY AS u (t, r, i)
             ORDER BY u.t, u.r, u.i) AS f
     WHERE NOT EXISTS (SELECT 1 FROM drift_ingested d
                        WHERE d.tenant = f.t AND d.report_id = f.r);

    IF fresh IS NOT NULL THEN
        -- msg_ids come from a sequence in insertion order: sorted, they
        -- line up with the messages as sent.
        SELECT array_agg (s.id ORDER BY s.id) INTO ids
          FROM pgmq.send_batch (queue_name,
                                ARRAY (SELECT bodies [k] FROM unnest (fresh) WITH ORDINALITY AS x (k, n)
                                       ORDER BY n),
                                delay) AS s (id);
        WITH claimed AS (
            INSERT INTO drift_ingested (tenant, report_id, msg_id)
            SELECT tenants [x.k], reports [x.k], ids [x.n]
              FROM unnest (fresh) WITH ORDINALITY AS x (k, n)
            ON CONFLICT DO NOTHING
            RETURNING drift_ingested.msg_id)
        SELECT array_agg (m) INTO lost
          FROM unnest (ids) AS m
         WHERE m NOT IN (SELECT c.msg_id FROM claimed c);
        IF lost IS NOT NULL THEN
            PERFORM pgmq.delete (queue_name, lost);
        END IF;
    END IF;

    RETURN QUERY
        SELECT u.i, d.msg_id,
               NOT (u.i = ANY (coalesce (fresh, '{}')) AND d.msg_id = ANY (coalesce (ids, '{}')))
          FROM unnest (tenants, reports) WITH ORDINALITY AS u (t, r, i)
          JOIN drift_ingested d ON d.tenant = u.t AND d.report_id = u.r
         ORDER BY u.i;
END
$$;
