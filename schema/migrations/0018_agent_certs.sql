-- Agents' X.509 client certificates for the HTTPS agent link (issue 18).
-- `drift keys issue` makes, beside an agent's CURVE key, a client
-- certificate signed by the install's local CA (KEYS-DIR/ca.crt) and records
-- its serial here. Caddy verifies the certificate (chain and validity) and
-- passes its serial on; ingest's HTTPS face maps the serial to the agent's
-- CURVE key with drift_agent_by_cert and from there on treats the request as
-- that key's: the same registry lookup (a revoked agent is refused), rate
-- limits and counters. `drift keys renew` adds a certificate for the same
-- agent: the old one stays valid until it expires, so there is no gap.
-- Serials are decimal text, as Caddy writes {http.request.tls.client.serial}.
CREATE TABLE agent_certs (
    serial text PRIMARY KEY CONSTRAINT agent_certs_serial_format
        CHECK (serial ~ '^[0-9]{1,60}$'),
    agent_id uuid NOT NULL REFERENCES agents,
    not_before timestamptz NOT NULL,
    not_after timestamptz NOT NULL,
    issued_at timestamptz NOT NULL DEFAULT now (),
    CONSTRAINT agent_certs_validity CHECK (not_before < not_after)
);
CREATE INDEX agent_certs_agent ON agent_certs (agent_id);

-- The services' role reads no certificates directly: ingest asks this
-- SECURITY DEFINER function for one serial, as it asks drift_agent_by_key
-- (0007) for one key; the validity comes back as Unix seconds, which the
-- face checks at every request (it caches the answer).
CREATE FUNCTION drift_agent_by_cert (serial text)
RETURNS TABLE (public_key text, not_before bigint, not_after bigint)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
    SELECT a.public_key, extract (epoch FROM c.not_before)::bigint,
           extract (epoch FROM c.not_after)::bigint
      FROM public.agent_certs c JOIN public.agents a ON a.id = c.agent_id
     WHERE c.serial = drift_agent_by_cert.serial;
$$;
REVOKE ALL ON FUNCTION drift_agent_by_cert (text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION drift_agent_by_cert (text) TO drift_app;
