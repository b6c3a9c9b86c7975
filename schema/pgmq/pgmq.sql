-- schema/pgmq/pgmq.sql -- the project's own implementation of pgmq's SQL API.
--
-- The journal is a set of pgmq queues. Where PostgreSQL ships the pgmq
-- extension (the Compose image), `CREATE EXTENSION pgmq` provides them; plain
-- Debian PostgreSQL does not ship it, so this file provides the same objects
-- and functions in plain SQL and PL/pgSQL. It mirrors the API that pgmq 1.5
-- documents (schema pgmq, table pgmq.meta, tables pgmq.q_<queue> and
-- pgmq.a_<queue>, types message_record, metrics_result and queue_record, and
-- the functions below with the same names, parameter names, overloads and
-- return shapes), so client code runs unchanged against either. It was
-- written from that documented behaviour, not from pgmq's source. Clients
-- cast every parameter
-- (`pgmq.send($1::text, $2::jsonb, $3::integer)`); every such form resolves
-- to exactly one function here.
--
-- Deliberate differences, none of them visible to a client that sticks to the
-- documented calls:
--   * No partitioned queues (create_partitioned and the pg_partman paths) and
--     none of pgmq's other extras (detach_archive, notify, topics, ...).
--   * Three helpers, pgmq._queue_name, pgmq._create and pgmq._send, live in
--     the schema; their names start with an underscore and are not part of
--     the API.
--   * Queue names must match [a-z0-9_]{1,47} after lowercasing; anything else
--     (not only $ ; -- ') is refused with SQLSTATE 42602 (invalid_name).
--     As in pgmq, only the table names are folded to lower case: pgmq.meta,
--     list_queues and metrics keep the name as the caller spelled it.
--   * drop_queue removes the meta rows of every spelling of the name (they
--     all name the tables it drops); pgmq 1.5.1 removes only the one given.
--     For a queue that does not exist it returns false with a notice, as
--     pgmq 1.5.2 and later do (1.5.1 raises an error).
--   * send_batch with a headers array of another length than msgs is refused.
--   * The file refuses to run where the pgmq extension is installed, rather
--     than replace the extension's functions.
--
-- Idempotent: running the whole file again changes nothing and keeps every
-- queue and message. All functions run inside the caller's transaction.

DO $guard$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgmq') THEN
        RAISE EXCEPTION 'the pgmq extension is installed in this database; '
                        'schema/pgmq/pgmq.sql is for databases without it';
    END IF;
END
$guard$;

CREATE SCHEMA IF NOT EXISTS pgmq;

CREATE TABLE IF NOT EXISTS pgmq.meta (
    queue_name     varchar     UNIQUE NOT NULL,
    is_partitioned boolean     NOT NULL,
    is_unlogged    boolean     NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

DO $types$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'pgmq' AND t.typname = 'message_record') THEN
        CREATE TYPE pgmq.message_record AS (
            msg_id      bigint,
            read_ct     integer,
            enqueued_at timestamptz,
            vt          timestamptz,
            message     jsonb,
            headers     jsonb
        );
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'pgmq' AND t.typname = 'metrics_result') THEN
        CREATE TYPE pgmq.metrics_result AS (
            queue_name           text,
            queue_length         bigint,
            newest_msg_age_sec   integer,
            oldest_msg_age_sec   integer,
            total_messages       bigint,
            scrape_time          timestamptz,
            queue_visible_length bigint
        );
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type t
                   JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                   WHERE n.nspname = 'pgmq' AND t.typname = 'queue_record') THEN
        CREATE TYPE pgmq.queue_record AS (
            queue_name     varchar,
            is_partitioned boolean,
            is_unlogged    boolean,
            created_at     timestamptz
        );
    END IF;
END
$types$;

-- ---------------------------------------------------------------------------
-- Helpers (not part of the API)

-- The canonical (lowercased) form of a queue name, or an error. Every
-- function goes through here before a name reaches dynamic SQL, and the
-- dynamic SQL still quotes it with format('%I').
CREATE OR REPLACE FUNCTION pgmq._queue_name (queue_name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
    name text := lower(queue_name);
BEGIN
    IF name IS NULL OR name = '' THEN
        RAISE EXCEPTION 'invalid queue name: must not be empty'
            USING ERRCODE = 'invalid_name';
    END IF;
    IF length(name) > 47 THEN
        RAISE EXCEPTION 'invalid queue name "%": longer than 47 characters', name
            USING ERRCODE = 'invalid_name';
    END IF;
    IF strpos(name, '$') > 0 OR strpos(name, ';') > 0 OR strpos(name, '--') > 0
       OR strpos(name, '''') > 0 THEN
        RAISE EXCEPTION 'invalid queue name "%": contains $, ;, -- or a quote', name
            USING ERRCODE = 'invalid_name';
    END IF;
    IF name !~ '^[a-z0-9_]+$' THEN
        RAISE EXCEPTION 'invalid queue name "%": only letters, digits and _ are allowed', name
            USING ERRCODE = 'invalid_name';
    END IF;
    RETURN name;
END
$$;

-- Insert one message per element of msgs (headers[i] beside msgs[i]; headers
-- may be NULL), all visible at vt; return the new ids in the order of msgs.
-- Identity values come from the sequence row by row in insertion order, and
-- the rows are inserted in array order, so ids ascend with the array index.
CREATE OR REPLACE FUNCTION pgmq._send (queue_name text, msgs jsonb[], headers jsonb[],
                                       vt timestamptz)
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    IF headers IS NOT NULL
       AND coalesce(cardinality(headers), 0) <> coalesce(cardinality(msgs), 0) THEN
        RAISE EXCEPTION 'send_batch: % headers for % messages',
            cardinality(headers), cardinality(msgs)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE format(
        'WITH inserted AS ('
        '    INSERT INTO pgmq.%I (vt, message, headers)'
        '    SELECT $3, m.message, ($2)[m.ord]'
        '      FROM unnest($1) WITH ORDINALITY AS m (message, ord)'
        '     ORDER BY m.ord'
        '    RETURNING msg_id)'
        ' SELECT msg_id FROM inserted ORDER BY msg_id',
        'q_' || name)
        USING msgs, headers, vt;
END
$$;

-- ---------------------------------------------------------------------------
-- Queues

-- Create what is missing of queue name (as the caller spelled it): the
-- queue table (UNLOGGED if unlogged and it does not exist yet), its index
-- on vt, the archive table, its index on archived_at and the meta row.
-- Tables are named after the folded name; the meta row keeps the name as
-- given, as pgmq's does. Serialised per name by an advisory lock, so
-- concurrent creates of one queue both succeed; checking first keeps a
-- repeated create free of "already exists" notices.
CREATE OR REPLACE FUNCTION pgmq._create (name text, unlogged boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
    given text := name;
BEGIN
    name := pgmq._queue_name(given);
    PERFORM pg_advisory_xact_lock(hashtext('pgmq.q_' || name));
    IF to_regclass(format('pgmq.%I', 'q_' || name)) IS NULL THEN
        EXECUTE format(
            'CREATE %s TABLE pgmq.%I ('
            '    msg_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,'
            '    read_ct     integer     NOT NULL DEFAULT 0,'
            '    enqueued_at timestamptz NOT NULL DEFAULT now(),'
            '    vt          timestamptz NOT NULL,'
            '    message     jsonb,'
            '    headers     jsonb)',
            CASE WHEN unlogged THEN 'UNLOGGED' ELSE '' END, 'q_' || name);
    END IF;
    IF to_regclass(format('pgmq.%I', 'q_' || name || '_vt_idx')) IS NULL THEN
        EXECUTE format('CREATE INDEX %I ON pgmq.%I (vt)',
                       'q_' || name || '_vt_idx', 'q_' || name);
    END IF;
    IF to_regclass(format('pgmq.%I', 'a_' || name)) IS NULL THEN
        EXECUTE format(
            'CREATE TABLE pgmq.%I ('
            '    msg_id      bigint      PRIMARY KEY,'
            '    read_ct     integer     NOT NULL DEFAULT 0,'
            '    enqueued_at timestamptz NOT NULL DEFAULT now(),'
            '    vt          timestamptz NOT NULL,'
            '    message     jsonb,'
            '    headers     jsonb,'
            '    archived_at timestamptz NOT NULL DEFAULT now())',
            'a_' || name);
    END IF;
    IF to_regclass(format('pgmq.%I', 'archived_at_idx_' || name)) IS NULL THEN
        EXECUTE format('CREATE INDEX %I ON pgmq.%I (archived_at)',
                       'archived_at_idx_' || name, 'a_' || name);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE m.queue_name = given) THEN
        INSERT INTO pgmq.meta (queue_name, is_partitioned, is_unlogged)
        SELECT given, false, c.relpersistence = 'u'
          FROM pg_catalog.pg_class c
         WHERE c.oid = to_regclass(format('pgmq.%I', 'q_' || name));
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION pgmq.create (queue_name text)
RETURNS void
LANGUAGE sql
AS $$
    SELECT pgmq._create(queue_name, false);
$$;

-- As create, but the queue table is UNLOGGED: fast, and emptied by a crash.
-- Never for the journal. A queue that already exists is left as it is.
CREATE OR REPLACE FUNCTION pgmq.create_unlogged (queue_name text)
RETURNS void
LANGUAGE sql
AS $$
    SELECT pgmq._create(queue_name, true);
$$;

-- Drop both tables and the meta rows of every spelling of the name; false,
-- with a notice, if there is no such queue.
CREATE OR REPLACE FUNCTION pgmq.drop_queue (queue_name text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('pgmq.q_' || name));
    IF NOT EXISTS (SELECT 1 FROM pgmq.meta m WHERE lower(m.queue_name) = name)
       AND to_regclass(format('pgmq.%I', 'q_' || name)) IS NULL
       AND to_regclass(format('pgmq.%I', 'a_' || name)) IS NULL THEN
        RAISE NOTICE 'pgmq queue "%" does not exist', name;
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', 'q_' || name);
    EXECUTE format('DROP TABLE IF EXISTS pgmq.%I', 'a_' || name);
    DELETE FROM pgmq.meta m WHERE lower(m.queue_name) = name;
    RETURN true;
END
$$;

-- Delete every message of the queue table (the archive is untouched); the
-- number deleted.
CREATE OR REPLACE FUNCTION pgmq.purge_queue (queue_name text)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
    deleted bigint;
BEGIN
    EXECUTE format('DELETE FROM pgmq.%I', 'q_' || name);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END
$$;

CREATE OR REPLACE FUNCTION pgmq.list_queues ()
RETURNS SETOF pgmq.queue_record
LANGUAGE sql
AS $$
    SELECT m.queue_name, m.is_partitioned, m.is_unlogged, m.created_at
      FROM pgmq.meta m
     ORDER BY m.queue_name;
$$;

-- ---------------------------------------------------------------------------
-- Sending: one function per documented overload, no defaults, so that each
-- cast form resolves to exactly one of them. vt = clock_timestamp() + delay.

CREATE OR REPLACE FUNCTION pgmq.send (queue_name text, msg jsonb)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, ARRAY[msg], NULL::jsonb[], clock_timestamp());
$$;

CREATE OR REPLACE FUNCTION pgmq.send (queue_name text, msg jsonb, delay integer)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, ARRAY[msg], NULL::jsonb[],
                      clock_timestamp() + make_interval(secs => delay));
$$;

CREATE OR REPLACE FUNCTION pgmq.send (queue_name text, msg jsonb, delay timestamptz)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, ARRAY[msg], NULL::jsonb[], delay);
$$;

CREATE OR REPLACE FUNCTION pgmq.send (queue_name text, msg jsonb, headers jsonb)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, ARRAY[msg], ARRAY[headers], clock_timestamp());
$$;

CREATE OR REPLACE FUNCTION pgmq.send (queue_name text, msg jsonb, headers jsonb,
                                      delay integer)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, ARRAY[msg], ARRAY[headers],
                      clock_timestamp() + make_interval(secs => delay));
$$;

CREATE OR REPLACE FUNCTION pgmq.send (queue_name text, msg jsonb, headers jsonb,
                                      delay timestamptz)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, ARRAY[msg], ARRAY[headers], delay);
$$;

CREATE OR REPLACE FUNCTION pgmq.send_batch (queue_name text, msgs jsonb[])
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, msgs, NULL::jsonb[], clock_timestamp());
$$;

CREATE OR REPLACE FUNCTION pgmq.send_batch (queue_name text, msgs jsonb[], delay integer)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, msgs, NULL::jsonb[],
                      clock_timestamp() + make_interval(secs => delay));
$$;

CREATE OR REPLACE FUNCTION pgmq.send_batch (queue_name text, msgs jsonb[],
                                            delay timestamptz)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, msgs, NULL::jsonb[], delay);
$$;

CREATE OR REPLACE FUNCTION pgmq.send_batch (queue_name text, msgs jsonb[],
                                            headers jsonb[])
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, msgs, headers, clock_timestamp());
$$;

CREATE OR REPLACE FUNCTION pgmq.send_batch (queue_name text, msgs jsonb[],
                                            headers jsonb[], delay integer)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, msgs, headers,
                      clock_timestamp() + make_interval(secs => delay));
$$;

CREATE OR REPLACE FUNCTION pgmq.send_batch (queue_name text, msgs jsonb[],
                                            headers jsonb[], delay timestamptz)
RETURNS SETOF bigint
LANGUAGE sql
AS $$
    SELECT pgmq._send(queue_name, msgs, headers, delay);
$$;

-- ---------------------------------------------------------------------------
-- Reading

-- Up to qty visible messages (vt passed, message @> conditional) in msg_id
-- order, skipping rows another transaction holds locked; each is hidden for
-- vt seconds and its read_ct goes up by one. "Visible" is judged against one
-- clock_timestamp() taken as the statement starts, passed as a parameter: the
-- planner then knows the cut-off and can use the index on vt when few
-- messages are visible, instead of walking every invisible one. The picked
-- rows are updated by their keys as an array, which the primary key serves
-- whatever the statistics say: joined to the queue instead, a queue last
-- analyzed while empty (as a queue often is) was planned as a nested loop
-- over every message, each compared with every picked one (127 ms to read
-- 100 of 3 168 in bench/e2e).
CREATE OR REPLACE FUNCTION pgmq.read (queue_name text, vt integer, qty integer,
                                      conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH picked AS ('
        '    SELECT q.msg_id FROM pgmq.%1$I q'
        '     WHERE q.vt <= $4'
        '       AND ($2 = ''{}''::jsonb OR q.message @> $2)'
        '     ORDER BY q.msg_id'
        '     LIMIT $1'
        '       FOR UPDATE SKIP LOCKED),'
        ' updated AS ('
        '    UPDATE pgmq.%1$I q'
        '       SET vt = clock_timestamp() + make_interval(secs => $3),'
        '           read_ct = q.read_ct + 1'
        '     WHERE q.msg_id = ANY (ARRAY (SELECT picked.msg_id FROM picked))'
        '    RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message, q.headers)'
        ' SELECT msg_id, read_ct, enqueued_at, vt, message, headers'
        '   FROM updated ORDER BY msg_id',
        'q_' || name)
        USING qty, coalesce(conditional, '{}'::jsonb), vt, clock_timestamp();
END
$$;

-- read, retried every poll_interval_ms within the statement until it returns
-- rows or max_poll_seconds have passed. Each attempt sees what other
-- transactions committed meanwhile.
CREATE OR REPLACE FUNCTION pgmq.read_with_poll (queue_name text, vt integer, qty integer,
                                                max_poll_seconds integer DEFAULT 5,
                                                poll_interval_ms integer DEFAULT 100,
                                                conditional jsonb DEFAULT '{}')
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
DECLARE
    deadline timestamptz := clock_timestamp()
                            + make_interval(secs => coalesce(max_poll_seconds, 5));
    pause double precision := greatest(coalesce(poll_interval_ms, 100), 1) / 1000.0;
    left_s double precision;
BEGIN
    LOOP
        RETURN QUERY EXECUTE
            'SELECT msg_id, read_ct, enqueued_at, vt, message, headers'
            '  FROM pgmq.read($1, $2, $3, $4)'
            USING queue_name, vt, qty, conditional;
        IF FOUND THEN
            RETURN;
        END IF;
        left_s := extract(epoch FROM deadline - clock_timestamp());
        EXIT WHEN left_s <= 0;
        PERFORM pg_sleep(least(pause, left_s));
    END LOOP;
END
$$;

-- Delete and return one visible message (the oldest): at-most-once delivery.
-- By its key, as read updates: a join could be planned as a walk of the queue.
CREATE OR REPLACE FUNCTION pgmq.pop (queue_name text)
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH picked AS ('
        '    SELECT q.msg_id FROM pgmq.%1$I q'
        '     WHERE q.vt <= $1'
        '     ORDER BY q.msg_id'
        '     LIMIT 1'
        '       FOR UPDATE SKIP LOCKED)'
        ' DELETE FROM pgmq.%1$I q'
        ' WHERE q.msg_id = (SELECT picked.msg_id FROM picked)'
        ' RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message, q.headers',
        'q_' || name)
        USING clock_timestamp();
END
$$;

-- Hide (or reveal) one message: vt = clock_timestamp() + vt seconds.
CREATE OR REPLACE FUNCTION pgmq.set_vt (queue_name text, msg_id bigint, vt integer)
RETURNS SETOF pgmq.message_record
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    RETURN QUERY EXECUTE format(
        'UPDATE pgmq.%I q'
        '   SET vt = clock_timestamp() + make_interval(secs => $2)'
        ' WHERE q.msg_id = $1'
        ' RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message, q.headers',
        'q_' || name)
        USING msg_id, vt;
END
$$;

-- ---------------------------------------------------------------------------
-- Acknowledging

CREATE OR REPLACE FUNCTION pgmq.delete (queue_name text, msg_id bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
    deleted bigint;
BEGIN
    EXECUTE format('DELETE FROM pgmq.%I q WHERE q.msg_id = $1', 'q_' || name)
        USING msg_id;
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted > 0;
END
$$;

-- The ids actually deleted, ascending.
CREATE OR REPLACE FUNCTION pgmq.delete (queue_name text, msg_ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH deleted AS ('
        '    DELETE FROM pgmq.%I q WHERE q.msg_id = ANY ($1) RETURNING q.msg_id)'
        ' SELECT msg_id FROM deleted ORDER BY msg_id',
        'q_' || name)
        USING msg_ids;
END
$$;

-- Move one message to the archive table; false if it is not in the queue.
CREATE OR REPLACE FUNCTION pgmq.archive (queue_name text, msg_id bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM pgmq.archive(queue_name, ARRAY[msg_id]));
END
$$;

-- Move messages to the archive table (archived_at = now()); the ids actually
-- moved, ascending.
CREATE OR REPLACE FUNCTION pgmq.archive (queue_name text, msg_ids bigint[])
RETURNS SETOF bigint
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
BEGIN
    RETURN QUERY EXECUTE format(
        'WITH moved AS ('
        '    DELETE FROM pgmq.%I q WHERE q.msg_id = ANY ($1)'
        '    RETURNING q.msg_id, q.read_ct, q.enqueued_at, q.vt, q.message, q.headers),'
        ' archived AS ('
        '    INSERT INTO pgmq.%I (msg_id, read_ct, enqueued_at, vt, message, headers,'
        '                         archived_at)'
        '    SELECT msg_id, read_ct, enqueued_at, vt, message, headers, now() FROM moved'
        '    RETURNING msg_id)'
        ' SELECT msg_id FROM archived ORDER BY msg_id',
        'q_' || name, 'a_' || name)
        USING msg_ids;
END
$$;

-- ---------------------------------------------------------------------------
-- Metrics

-- Counts over the queue table at scrape_time (clock_timestamp()); ages in
-- whole seconds, NULL for an empty queue; total_messages is every message
-- ever sent to the queue (the identity sequence); queue_name as given.
CREATE OR REPLACE FUNCTION pgmq.metrics (queue_name text)
RETURNS pgmq.metrics_result
LANGUAGE plpgsql
AS $$
DECLARE
    name text := pgmq._queue_name(queue_name);
    seq regclass;
    scraped timestamptz := clock_timestamp();
    queue_length bigint;
    visible bigint;
    newest timestamptz;
    oldest timestamptz;
    total bigint;
BEGIN
    EXECUTE format(
        'SELECT count(*), count(*) FILTER (WHERE q.vt <= $1),'
        '       max(q.enqueued_at), min(q.enqueued_at)'
        '  FROM pgmq.%I q',
        'q_' || name)
        INTO queue_length, visible, newest, oldest
        USING scraped;
    seq := pg_get_serial_sequence(format('pgmq.%I', 'q_' || name), 'msg_id')::regclass;
    EXECUTE format('SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END FROM %s s',
                   seq)
        INTO total;
    RETURN ROW(queue_name, queue_length,
               floor(extract(epoch FROM scraped - newest))::integer,
               floor(extract(epoch FROM scraped - oldest))::integer,
               total, scraped, visible)::pgmq.metrics_result;
END
$$;

CREATE OR REPLACE FUNCTION pgmq.metrics_all ()
RETURNS SETOF pgmq.metrics_result
LANGUAGE plpgsql
AS $$
DECLARE
    queue record;
BEGIN
    FOR queue IN SELECT m.queue_name FROM pgmq.meta m ORDER BY m.queue_name LOOP
        RETURN NEXT pgmq.metrics(queue.queue_name);
    END LOOP;
END
$$;
