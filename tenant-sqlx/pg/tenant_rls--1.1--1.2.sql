-- tenant_rls 1.2: BEGIN's one round trip, safe by default.
\echo Use "ALTER EXTENSION tenant_rls UPDATE TO '1.2'" to load this file. \quit

-- enter for a credential written into the query text (RowSecurity's one-round-trip BEGIN):
-- HMAC-SHA256 of `enter-text:<tenant>:<database>\0<session user>`, never the bound `enter:`
-- one, accepted only while this backend does not publish its query texts (track_activities
-- off, which only a superuser can change): SQLSTATE TR001 otherwise, before the credential is
-- looked at.
CREATE FUNCTION tenant_rls.enter_text(tenant text, credential text) RETURNS text
    AS 'MODULE_PATHNAME', 'tenant_rls_enter_text'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;

-- Whether enter_text would look at a credential in this session; RowSecurity's two-round-trip
-- BEGIN reads it to learn that the next may take one.
CREATE FUNCTION tenant_rls.texts_hidden() RETURNS boolean
    AS 'MODULE_PATHNAME', 'tenant_rls_texts_hidden'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
