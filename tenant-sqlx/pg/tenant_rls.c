/*
 * tenant_rls: the tenant setting of tenant-sqlx's RowSecurity, which raw SQL of a role that is
 * not a superuser can neither set nor reset, and which costs the policy one read of a variable.
 *
 * - `tenant_rls.tenant` is a superuser-only (PGC_SUSET) setting, and the prefix `tenant_rls.`
 *   is reserved: no SET, SET LOCAL, RESET, set_config or ALTER ROLE/DATABASE .. SET by another
 *   role can give it a value, and no placeholder of that name outlives this library's load.
 * - enter(tenant, credential) checks HMAC-SHA256(key, "enter:" || tenant) in hex, the key being
 *   the pads in tenant_rls.key (which only its owner can read with SQL; this function reads
 *   the row directly), compares in constant time, and sets the setting transaction-locally:
 *   gone at COMMIT or ROLLBACK, undone by ROLLBACK TO a savepoint before it.
 * - native_current_tenant() returns the setting, NULL when unset or empty (fail closed).
 *
 * Every policy reads the setting once per statement, so the check is paid once per transaction
 * (in enter) rather than once per statement, as the PL/pgSQL version must.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

PG_MODULE_MAGIC;

#define TENANT_GUC "tenant_rls.tenant"
#define PAD_LEN 64				/* SHA-256's block: HMAC's padded key */
#define DIGEST_LEN 32
#define MAX_TENANT_LEN 63

/* The setting's value, owned by the GUC machinery. */
static char *tenant_setting = NULL;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(tenant_rls_enter);
PG_FUNCTION_INFO_V1(tenant_rls_current_tenant);

/* A tenant id as tenant-core defines it: [a-z0-9], inner '-', at most 63 bytes. */
static bool
valid_tenant(const char *tenant, size_t len)
{
	if (len == 0 || len > MAX_TENANT_LEN)
		return false;
	if (tenant[0] == '-' || tenant[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
	{
		char		c = tenant[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/*
 * Only a valid tenant or the empty string: whatever sets the setting (enter, or a
 * superuser by hand), the policy never compares a row with anything else.
 */
static bool
check_tenant(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (valid_tenant(*newval, strlen(*newval)))
		return true;
	GUC_check_errdetail("A tenant id is 1 to 63 characters of [a-z0-9-], not starting or ending with '-'.");
	return false;
}

void
_PG_init(void)
{
	DefineCustomStringVariable(TENANT_GUC,
							   "The tenant this transaction entered with tenant_rls.enter.",
							   "Superuser-only: set by tenant_rls.enter for a verified credential.",
							   &tenant_setting,
							   "",
							   PGC_SUSET,
							   GUC_NOT_IN_SAMPLE | GUC_DISALLOW_IN_FILE,
							   check_tenant, NULL, NULL);
	/* Drops any placeholder tenant_rls.* and refuses new ones. */
	MarkGUCPrefixReserved("tenant_rls");
}

static void
sha256(const uint8 *a, size_t alen, const uint8 *b, size_t blen, const uint8 *c, size_t clen,
	   uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, a, alen) < 0 ||
		pg_cryptohash_update(ctx, b, blen) < 0 ||
		(clen > 0 && pg_cryptohash_update(ctx, c, clen) < 0) ||
		pg_cryptohash_final(ctx, out, DIGEST_LEN) < 0)
	{
		pg_cryptohash_free(ctx);
		ereport(ERROR, (errmsg("tenant_rls: SHA-256 failed")));
	}
	pg_cryptohash_free(ctx);
}

static void
refuse(const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
			 errmsg("tenant_rls: %s", why)));
}

/* The attribute number of the bytea column `name` of `desc`, or InvalidAttrNumber. */
static AttrNumber
bytea_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->atttypid == BYTEAOID &&
			strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * Reads the pads of tenant_rls.key, its one row, directly: no SPI, no plan, no privilege check
 * (the caller may not read the table, and this function reveals nothing of it but whether a
 * credential verifies). Found by schema and name, not through the search path; only the
 * schema's owner can create a relation there. Under the statement's snapshot, so a key
 * installed (rotated) by a committed transaction applies to the next statement.
 */
static void
read_key(uint8 *inner, uint8 *outer)
{
	Oid			schema = get_namespace_oid("tenant_rls", true);
	Oid			relid = OidIsValid(schema) ? get_relname_relid("key", schema) : InvalidOid;
	Relation	rel;
	TupleDesc	desc;
	AttrNumber	inner_att;
	AttrNumber	outer_att;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			rows = 0;
	bool		found = false;

	if (!OidIsValid(relid))
		refuse("no key is installed");
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	inner_att = bytea_column(desc, "inner_pad");
	outer_att = bytea_column(desc, "outer_pad");
	if (rel->rd_rel->relkind != RELKIND_RELATION || inner_att == InvalidAttrNumber ||
		outer_att == InvalidAttrNumber)
	{
		table_close(rel, AccessShareLock);
		refuse("no key is installed");
	}
	scan = table_beginscan(rel, ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot(),
						   0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		bool		inner_null,
					outer_null;
		Datum		i = slot_getattr(slot, inner_att, &inner_null);
		Datum		o = slot_getattr(slot, outer_att, &outer_null);

		/* One row (the table's CHECK and key); more would be a table that is not ours. */
		if (++rows > 1)
		{
			found = false;
			break;
		}
		if (!inner_null && !outer_null)
		{
			bytea	   *ib = DatumGetByteaPP(i);
			bytea	   *ob = DatumGetByteaPP(o);

			if (VARSIZE_ANY_EXHDR(ib) == PAD_LEN && VARSIZE_ANY_EXHDR(ob) == PAD_LEN)
			{
				memcpy(inner, VARDATA_ANY(ib), PAD_LEN);
				memcpy(outer, VARDATA_ANY(ob), PAD_LEN);
				found = true;
			}
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!found)
	{
		explicit_bzero(inner, PAD_LEN);
		explicit_bzero(outer, PAD_LEN);
		refuse("no key is installed");
	}
}

Datum
tenant_rls_enter(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	static const uint8 prefix[] = "enter:";
	uint8		inner_pad[PAD_LEN];
	uint8		outer_pad[PAD_LEN];
	uint8		inner[DIGEST_LEN];
	uint8		mac[DIGEST_LEN];
	char		expected[2 * DIGEST_LEN];
	text	   *tenant;
	text	   *credential;
	const char *given;
	size_t		tenant_len;
	size_t		given_len;
	uint8		diff = 0;
	char	   *value;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		refuse("the tenant credential does not verify");
	tenant = PG_GETARG_TEXT_PP(0);
	credential = PG_GETARG_TEXT_PP(1);
	tenant_len = VARSIZE_ANY_EXHDR(tenant);
	if (!valid_tenant(VARDATA_ANY(tenant), tenant_len))
		refuse("the tenant credential does not verify");

	read_key(inner_pad, outer_pad);
	sha256(inner_pad, PAD_LEN, prefix, sizeof(prefix) - 1,
		   (const uint8 *) VARDATA_ANY(tenant), tenant_len, inner);
	sha256(outer_pad, PAD_LEN, inner, DIGEST_LEN, NULL, 0, mac);
	explicit_bzero(inner_pad, PAD_LEN);
	explicit_bzero(outer_pad, PAD_LEN);
	for (int i = 0; i < DIGEST_LEN; i++)
	{
		expected[2 * i] = hex[mac[i] >> 4];
		expected[2 * i + 1] = hex[mac[i] & 0xf];
	}

	/* Constant time in the credential's content: every byte is compared, whatever differs. */
	given = VARDATA_ANY(credential);
	given_len = VARSIZE_ANY_EXHDR(credential);
	if (given_len != sizeof(expected))
	{
		diff = 1;
		given = expected;
	}
	for (size_t i = 0; i < sizeof(expected); i++)
		diff |= (uint8) (given[i] ^ expected[i]);
	if (diff != 0)
		refuse("the tenant credential does not verify");

	/*
	 * As a superuser's SET LOCAL would: undone at the end of the transaction, or by a ROLLBACK TO
	 * a savepoint taken before it. This function has no SET clause (nor SECURITY DEFINER), so no
	 * GUC nest level of its own ends when it returns.
	 */
	value = text_to_cstring(tenant);
	(void) set_config_option(TENANT_GUC, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
	PG_RETURN_TEXT_P(cstring_to_text(value));
}

Datum
tenant_rls_current_tenant(PG_FUNCTION_ARGS)
{
	if (tenant_setting == NULL || tenant_setting[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(tenant_setting));
}
