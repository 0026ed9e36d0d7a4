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
 * - enter_text(tenant, credential) (1.2) is enter for a credential written into the query text,
 *   which the application sends in BEGIN's one round trip: HMAC-SHA256(key, "enter-text:" ||
 *   tenant || ":" || database || NUL || session user), so a bound credential is never a text one
 *   nor the reverse, and a text one enters only in its database as its role. It is accepted only
 *   while this backend does not publish its query texts (track_activities off, a superuser-only
 *   setting): a text that reached pg_stat_activity was refused, and could be used only where
 *   texts are hidden for the same database and role (see SECURITY.md for what remains).
 * - texts_hidden() (1.2) says whether enter_text would look at a credential here.
 * - native_current_tenant() returns the setting, NULL when unset or empty (fail closed).
 * - placement_enter(tenant, tier) (1.1) is tenant-sqlx's placement fence: a shared advisory lock
 *   on the tenant's key (1.1's drain takes it exclusively; kept for processes of that release),
 *   then the tenant's row of tenant_placement.tenants, read through its primary key under a
 *   snapshot taken after the lock. Not placed here, or of another tier: SQLSTATE TP001;
 *   fenced: TP002.
 * - placement_enter(tenant, tier, search_path) (1.3) is that check without the lock, in the
 *   calling statement's snapshot (the move's drain waits for the transactions that were running
 *   when the flag was committed; SECURITY.md), then the search path set transaction-locally as
 *   set_config('search_path', .., true) sets it: the fenced BEGIN's one function call, where it
 *   made two (the planner names and plans each call of the query on every BEGIN).
 *   Both read the row where the backend last found it when it is still there (visible, the
 *   tenant's), through the primary key otherwise; see the placement cache below.
 *
 * Every policy reads the setting once per statement, so the check is paid once per transaction
 * (in enter) rather than once per statement, as the PL/pgSQL version must. Within a backend,
 * enter keeps the key and the credentials that verified under it (see the cache below), so a
 * pooled connection that enters the same tenant again compares 64 bytes instead of hashing.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

PG_MODULE_MAGIC;

#define TENANT_GUC "tenant_rls.tenant"
#define PAD_LEN 64				/* SHA-256's block: HMAC's padded key */
#define DIGEST_LEN 32
#define MAX_TENANT_LEN 63

/* The setting's value, owned by the GUC machinery. */
static char *tenant_setting = NULL;

void		_PG_init(void);

PG_FUNCTION_INFO_V1(tenant_rls_enter);
PG_FUNCTION_INFO_V1(tenant_rls_enter_text);
PG_FUNCTION_INFO_V1(tenant_rls_texts_hidden);
PG_FUNCTION_INFO_V1(tenant_rls_current_tenant);
PG_FUNCTION_INFO_V1(tenant_rls_placement_enter);
PG_FUNCTION_INFO_V1(tenant_rls_placement_enter_path);

static void placement_relcache_changed(Datum arg, Oid relid);
static void placement_schemas_changed(Datum arg, int cacheid, uint32 hashvalue);

/*
 * The backend's cache of the key and of the credentials computed under it. Why it is safe:
 * every enter still reads the key row under the statement's snapshot (a visibility check of
 * the one tuple at the remembered TID; a full scan when it is gone), and compares all 128
 * bytes of pads with the cached ones, so a rotated key empties the cache before any
 * credential is compared. An entry is a credential that verified for a tenant under the cached
 * key: only the same credential for the same tenant matches it, and anything else is checked
 * by computing the HMAC (see credential_verifies). It lives in the backend's memory, which no
 * SQL can read.
 */
#define CACHE_SLOTS 32

#if PG_VERSION_NUM >= 160000
#define RELATION_FILE_NUMBER(rel) ((rel)->rd_locator.relNumber)
#else
#define RELATION_FILE_NUMBER(rel) ((rel)->rd_node.relNode)
#endif

typedef struct CachedCredential
{
	uint8		len;			/* of tenant; 0: empty slot */
	Oid			user;			/* a text credential's session user; InvalidOid: bound */
	char		tenant[MAX_TENANT_LEN];
	char		expected[2 * DIGEST_LEN];
} CachedCredential;

static bool key_cached = false;
static Oid	key_relid = InvalidOid;
static Oid	key_relfilenode = InvalidOid;
static ItemPointerData key_tid;
static uint8 key_inner[PAD_LEN];
static uint8 key_outer[PAD_LEN];
static CachedCredential credentials[CACHE_SLOTS];
static int	next_slot = 0;

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
	/* What the placement check learnt of its table is forgotten when the catalogs change. */
	CacheRegisterRelcacheCallback(placement_relcache_changed, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, placement_schemas_changed, (Datum) 0);
}

/* SHA-256 of the concatenation of `n` parts. */
static void
sha256(int n, const uint8 *const *parts, const size_t *lens, uint8 *out)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	bool		ok = ctx != NULL && pg_cryptohash_init(ctx) == 0;

	for (int i = 0; ok && i < n; i++)
		ok = lens[i] == 0 || pg_cryptohash_update(ctx, parts[i], lens[i]) == 0;
	if (!ok || pg_cryptohash_final(ctx, out, DIGEST_LEN) < 0)
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

/* Copies the pads from one row of the key table; false if they are not two 64-byte values. */
static bool
copy_pads(Datum i, bool inner_null, Datum o, bool outer_null, uint8 *inner, uint8 *outer)
{
	bytea	   *ib;
	bytea	   *ob;

	if (inner_null || outer_null)
		return false;
	ib = DatumGetByteaPP(i);
	ob = DatumGetByteaPP(o);
	if (VARSIZE_ANY_EXHDR(ib) != PAD_LEN || VARSIZE_ANY_EXHDR(ob) != PAD_LEN)
		return false;
	memcpy(inner, VARDATA_ANY(ib), PAD_LEN);
	memcpy(outer, VARDATA_ANY(ob), PAD_LEN);
	return true;
}

/*
 * The row at the TID the last read found, if it is still there and visible to `snapshot`: an
 * UPDATE (a rotation) or DELETE committed since makes it invisible, a TRUNCATE or rewrite gives
 * the table another relfilenode. The block is checked against the table's length first, as a
 * VACUUM may have truncated it.
 */
static bool
fetch_cached_key(Relation rel, Snapshot snapshot, AttrNumber inner_att, AttrNumber outer_att,
				 uint8 *inner, uint8 *outer)
{
	HeapTupleData tuple;
	Buffer		buffer;
	bool		inner_null,
				outer_null;
	Datum		i,
				o;
	bool		found;

	if (!key_cached || RelationGetRelid(rel) != key_relid ||
		RELATION_FILE_NUMBER(rel) != key_relfilenode ||
		rel->rd_tableam != GetHeapamTableAmRoutine() ||
		ItemPointerGetBlockNumber(&key_tid) >= RelationGetNumberOfBlocks(rel))
		return false;
	tuple.t_self = key_tid;
	if (!heap_fetch(rel, snapshot, &tuple, &buffer, false))
		return false;
	i = heap_getattr(&tuple, inner_att, RelationGetDescr(rel), &inner_null);
	o = heap_getattr(&tuple, outer_att, RelationGetDescr(rel), &outer_null);
	found = copy_pads(i, inner_null, o, outer_null, inner, outer);
	ReleaseBuffer(buffer);
	return found;
}

/*
 * Reads the pads of tenant_rls.key, its one row, directly: no SPI, no plan, no privilege check
 * (the caller may not read the table, and this function reveals nothing of it but whether a
 * credential verifies). Found by schema and name, not through the search path; only the
 * schema's owner can create a relation there. Under the statement's snapshot, so a key
 * installed (rotated) by a committed transaction applies to the next statement. The row is
 * looked for at the TID of the last read first, then by a scan, which remembers its TID.
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
	Snapshot	snapshot;
	TableScanDesc scan;
	TupleTableSlot *slot;
	ItemPointerData tid;
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
	snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	if (fetch_cached_key(rel, snapshot, inner_att, outer_att, inner, outer))
	{
		table_close(rel, AccessShareLock);
		return;
	}
	key_cached = false;
	ItemPointerSetInvalid(&tid);
	scan = table_beginscan(rel, snapshot, 0, NULL);
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
		found = copy_pads(i, inner_null, o, outer_null, inner, outer);
		tid = slot->tts_tid;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	if (found && ItemPointerIsValid(&tid))
	{
		key_tid = tid;
		key_relid = relid;
		key_relfilenode = RELATION_FILE_NUMBER(rel);
		key_cached = true;
	}
	table_close(rel, AccessShareLock);
	if (!found)
	{
		explicit_bzero(inner, PAD_LEN);
		explicit_bzero(outer, PAD_LEN);
		refuse("no key is installed");
	}
}

/* Whether `given` (of `given_len` bytes) is `expected`, in time that depends on the length only. */
static bool
credential_equal(const char *given, size_t given_len, const char *expected)
{
	uint8		diff = 0;

	if (given_len != 2 * DIGEST_LEN)
	{
		diff = 1;
		given = expected;
	}
	for (size_t i = 0; i < 2 * DIGEST_LEN; i++)
		diff |= (uint8) (given[i] ^ expected[i]);
	return diff == 0;
}

/*
 * Whether `given` is the key's credential for `tenant`: the bound one (`user` InvalidOid) or the
 * text one of this database and the session user `user`. The key is read first, and the cache
 * emptied when its pads differ from those it was filled under. The cache answers only a
 * credential equal to one it holds for the same tenant, kind and user: any other is checked by
 * computing the HMAC, so how long a refusal takes says nothing about which tenants this backend
 * entered before. Only verified credentials are cached.
 */
static bool
credential_verifies(const char *tenant, size_t tenant_len, const char *given, size_t given_len,
					Oid user)
{
	static const char hex[] = "0123456789abcdef";
	static const uint8 bound_prefix[] = "enter:";
	static const uint8 text_prefix[] = "enter-text:";
	static const uint8 separators[] = ":";
	uint8		inner_pad[PAD_LEN];
	uint8		outer_pad[PAD_LEN];
	uint8		inner[DIGEST_LEN];
	uint8		mac[DIGEST_LEN];
	char		expected[2 * DIGEST_LEN];
	CachedCredential *slot;
	bool		verifies;

	read_key(inner_pad, outer_pad);
	if (memcmp(inner_pad, key_inner, PAD_LEN) != 0 || memcmp(outer_pad, key_outer, PAD_LEN) != 0)
	{
		memcpy(key_inner, inner_pad, PAD_LEN);
		memcpy(key_outer, outer_pad, PAD_LEN);
		explicit_bzero(credentials, sizeof(credentials));
		next_slot = 0;
	}
	for (int i = 0; i < CACHE_SLOTS; i++)
	{
		if (credentials[i].len == tenant_len && credentials[i].user == user &&
			memcmp(credentials[i].tenant, tenant, tenant_len) == 0 &&
			credential_equal(given, given_len, credentials[i].expected))
		{
			explicit_bzero(inner_pad, PAD_LEN);
			explicit_bzero(outer_pad, PAD_LEN);
			return true;
		}
	}
	if (OidIsValid(user))
	{
		/*
		 * "enter-text:" tenant ":" database NUL user: a tenant has no ':' and a name no NUL, so
		 * the message parses one way only; "enter-" is never "enter:".
		 */
		char	   *database = get_database_name(MyDatabaseId);
		char	   *user_name = GetUserNameFromId(user, false);
		const uint8 *parts[] = {inner_pad, text_prefix, (const uint8 *) tenant, separators,
		(const uint8 *) database, (const uint8 *) "", (const uint8 *) user_name};
		size_t		lens[] = {PAD_LEN, sizeof(text_prefix) - 1, tenant_len, 1,
		strlen(database), 1, strlen(user_name)};

		sha256(7, parts, lens, inner);
		pfree(database);
		pfree(user_name);
	}
	else
	{
		const uint8 *parts[] = {inner_pad, bound_prefix, (const uint8 *) tenant};
		size_t		lens[] = {PAD_LEN, sizeof(bound_prefix) - 1, tenant_len};

		sha256(3, parts, lens, inner);
	}
	{
		const uint8 *parts[] = {outer_pad, inner};
		size_t		lens[] = {PAD_LEN, DIGEST_LEN};

		sha256(2, parts, lens, mac);
	}
	explicit_bzero(inner_pad, PAD_LEN);
	explicit_bzero(outer_pad, PAD_LEN);
	for (int i = 0; i < DIGEST_LEN; i++)
	{
		expected[2 * i] = hex[mac[i] >> 4];
		expected[2 * i + 1] = hex[mac[i] & 0xf];
	}
	verifies = credential_equal(given, given_len, expected);
	if (verifies)
	{
		/* A tenant already cached (its entry replaced) is not the case: it would have matched. */
		slot = &credentials[next_slot];
		next_slot = (next_slot + 1) % CACHE_SLOTS;
		slot->len = (uint8) tenant_len;
		slot->user = user;
		memcpy(slot->tenant, tenant, tenant_len);
		memcpy(slot->expected, expected, 2 * DIGEST_LEN);
	}
	explicit_bzero(expected, sizeof(expected));
	return verifies;
}

/*
 * Checks `credential` for `tenant` (`user`: see credential_verifies) and sets the setting
 * transaction-locally, as a superuser's SET LOCAL would: undone at the end of the transaction, or
 * by a ROLLBACK TO a savepoint taken before it. The functions have no SET clause (nor SECURITY
 * DEFINER), so no GUC nest level of their own ends when they return.
 */
static Datum
enter_as(FunctionCallInfo fcinfo, Oid user)
{
	text	   *tenant;
	text	   *credential;
	size_t		tenant_len;
	char	   *value;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		refuse("the tenant credential does not verify");
	tenant = PG_GETARG_TEXT_PP(0);
	credential = PG_GETARG_TEXT_PP(1);
	tenant_len = VARSIZE_ANY_EXHDR(tenant);
	if (!valid_tenant(VARDATA_ANY(tenant), tenant_len))
		refuse("the tenant credential does not verify");
	/* Constant time in the credential's content: every byte is compared, whatever differs. */
	if (!credential_verifies(VARDATA_ANY(tenant), tenant_len, VARDATA_ANY(credential),
							 VARSIZE_ANY_EXHDR(credential), user))
		refuse("the tenant credential does not verify");
	value = text_to_cstring(tenant);
	(void) set_config_option(TENANT_GUC, value, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, ERROR, false);
	PG_RETURN_TEXT_P(cstring_to_text(value));
}

Datum
tenant_rls_enter(PG_FUNCTION_ARGS)
{
	return enter_as(fcinfo, InvalidOid);
}

/*
 * enter for a credential in the query text. Refused (TR001, before the credential is looked at)
 * when this backend publishes its query texts: then the text, credential included, is in
 * pg_stat_activity, which is overwritten at once so that it shows there for as short a time as
 * this backend can make it. The client falls back to a bound credential. The session user, not
 * the current one: SET ROLE, which raw SQL may run, does not change it.
 */
Datum
tenant_rls_enter_text(PG_FUNCTION_ARGS)
{
	if (pgstat_track_activities)
	{
		pgstat_report_activity(STATE_RUNNING,
							   "<tenant_rls: a credential in a published query text, refused>");
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('T', 'R', '0', '0', '1')),
				 errmsg("tenant_rls: this session publishes its query texts (track_activities), so it refuses a credential written in one"),
				 errhint("Bind the credential (tenant_rls.enter), or have a superuser set track_activities off for the role.")));
	}
	return enter_as(fcinfo, GetSessionUserId());
}

/* Whether enter_text would look at a credential in this backend: its query texts are hidden. */
Datum
tenant_rls_texts_hidden(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(!pgstat_track_activities);
}

Datum
tenant_rls_current_tenant(PG_FUNCTION_ARGS)
{
	if (tenant_setting == NULL || tenant_setting[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(tenant_setting));
}

/* The advisory lock's first key, as the 1.1 fence and the drains of that release take it. */
#define PLACEMENT_LOCK_KEY 1952804464

static void
placement_refuse(bool fenced)
{
	if (fenced)
		ereport(ERROR,
				(errcode(MAKE_SQLSTATE('T', 'P', '0', '0', '2')),
				 errmsg("tenant is fenced for a move")));
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE('T', 'P', '0', '0', '1')),
			 errmsg("tenant is not placed in this database")));
}

/* The attribute number of the column `name` of type `type` of `desc`, or InvalidAttrNumber. */
static AttrNumber
typed_column(TupleDesc desc, const char *name, Oid type)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && att->atttypid == type &&
			strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * What the placement check learnt of tenant_placement.tenants, kept for the backend: the
 * table's and its primary key's OIDs and its columns, and, per tenant, the TID its row was last
 * found at. The first part is forgotten whenever the table's relcache entry (which its ALTER,
 * DROP, RENAME, TRUNCATE, rewrite and index changes invalidate), any relcache entry, or any
 * schema changes (the callbacks below, run as this backend reads the invalidations: when its
 * transaction starts and when it takes a lock). The TIDs are only where to look first: a row
 * found there must be visible to the statement's snapshot and carry the tenant's id, and the
 * primary key (checked unique and immediate when the table is learnt) makes it the tenant's one
 * row in that snapshot, the row the index would have found. A row updated since (a fence, a
 * switch) is a new version elsewhere, invisible at the old TID, and is looked up in the index.
 */
static bool placement_known = false;
static Oid	placement_relid = InvalidOid;
static Oid	placement_index = InvalidOid;
static AttrNumber placement_tenant_att;
static AttrNumber placement_tier_att;
static AttrNumber placement_fenced_att;

typedef struct CachedPlacement
{
	uint8		len;			/* of tenant; 0: empty slot */
	char		tenant[MAX_TENANT_LEN];
	ItemPointerData tid;
} CachedPlacement;

static CachedPlacement placements[CACHE_SLOTS];
static int	next_placement = 0;

static void
forget_placement(void)
{
	placement_known = false;
	memset(placements, 0, sizeof(placements));
	next_placement = 0;
}

static void
placement_relcache_changed(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == placement_relid || relid == placement_index)
		forget_placement();
}

static void
placement_schemas_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	forget_placement();
}

static void
no_placement_table(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("tenant_rls: no placement table is installed")));
}

/*
 * tenant_placement.tenants, opened (AccessShareLock), learnt first if it is not known: found by
 * schema and name, not through the search path (only the schema's owner can create a relation
 * there), with text tenant_id and tier and a boolean fenced, and tenant_id its unique, immediate
 * one-column primary key. Anything else is no placement table.
 */
static Relation
placement_open(void)
{
	Oid			schema;
	Oid			relid;
	Oid			index_oid;
	Relation	rel;
	Relation	index;
	TupleDesc	desc;
	AttrNumber	tenant_att;
	AttrNumber	tier_att;
	AttrNumber	fenced_att;
	bool		usable;

	if (placement_known)
	{
		rel = try_table_open(placement_relid, AccessShareLock);
		/* Taking the lock read the invalidations queued since: is it still the one learnt? */
		if (rel != NULL && placement_known)
			return rel;
		if (rel != NULL)
			table_close(rel, AccessShareLock);
	}
	forget_placement();
	schema = get_namespace_oid("tenant_placement", true);
	relid = OidIsValid(schema) ? get_relname_relid("tenants", schema) : InvalidOid;
	if (!OidIsValid(relid))
		no_placement_table();
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	tenant_att = typed_column(desc, "tenant_id", TEXTOID);
	tier_att = typed_column(desc, "tier", TEXTOID);
	fenced_att = typed_column(desc, "fenced", BOOLOID);
	index_oid = RelationGetPrimaryKeyIndex(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || tenant_att == InvalidAttrNumber ||
		tier_att == InvalidAttrNumber || fenced_att == InvalidAttrNumber ||
		!OidIsValid(index_oid))
	{
		table_close(rel, AccessShareLock);
		no_placement_table();
	}
	index = index_open(index_oid, AccessShareLock);
	usable = index->rd_index->indnatts == 1 && index->rd_index->indkey.values[0] == tenant_att &&
		index->rd_index->indisunique && index->rd_index->indimmediate;
	index_close(index, AccessShareLock);
	if (!usable)
	{
		table_close(rel, AccessShareLock);
		no_placement_table();
	}
	placement_relid = relid;
	placement_index = index_oid;
	placement_tenant_att = tenant_att;
	placement_tier_att = tier_att;
	placement_fenced_att = fenced_att;
	placement_known = true;
	return rel;
}

/*
 * The tier and fence flag of the row `tuple`, if it is `tenant`'s: `placed` when the tier is
 * `tier`. False if the row is another tenant's (a TID reused since) or has NULLs.
 */
static bool
placement_row(HeapTuple tuple, TupleDesc desc, const char *tenant, size_t tenant_len, text *tier,
			  bool *placed, bool *fenced)
{
	bool		tenant_null,
				tier_null,
				fenced_null;
	Datum		row_tenant = heap_getattr(tuple, placement_tenant_att, desc, &tenant_null);
	Datum		row_tier = heap_getattr(tuple, placement_tier_att, desc, &tier_null);
	Datum		row_fenced = heap_getattr(tuple, placement_fenced_att, desc, &fenced_null);
	text	   *t;
	text	   *r;

	if (tenant_null || tier_null || fenced_null)
		return false;
	t = DatumGetTextPP(row_tenant);
	if (VARSIZE_ANY_EXHDR(t) != tenant_len || memcmp(VARDATA_ANY(t), tenant, tenant_len) != 0)
		return false;
	r = DatumGetTextPP(row_tier);
	*placed = VARSIZE_ANY_EXHDR(r) == VARSIZE_ANY_EXHDR(tier) &&
		memcmp(VARDATA_ANY(r), VARDATA_ANY(tier), VARSIZE_ANY_EXHDR(tier)) == 0;
	*fenced = DatumGetBool(row_fenced);
	return true;
}

/* The slot of `tenant` among the TIDs kept, or -1. */
static int
placement_slot(const char *tenant, size_t len)
{
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (placements[i].len == len && memcmp(placements[i].tenant, tenant, len) == 0)
			return i;
	return -1;
}

/*
 * The tenant's row at the TID it was last found at, if it is there, visible to `snapshot`
 * and still the tenant's. The block is checked against the table's length first, as a VACUUM
 * may have truncated it.
 */
static bool
placement_fetch_cached(Relation rel, Snapshot snapshot, const char *tenant, size_t tenant_len,
					   text *tier, bool *placed, bool *fenced)
{
	int			slot = placement_slot(tenant, tenant_len);
	HeapTupleData tuple;
	Buffer		buffer;
	bool		found;

	if (slot < 0 || rel->rd_tableam != GetHeapamTableAmRoutine() ||
		ItemPointerGetBlockNumber(&placements[slot].tid) >= RelationGetNumberOfBlocks(rel))
		return false;
	tuple.t_self = placements[slot].tid;
	if (!heap_fetch(rel, snapshot, &tuple, &buffer, false))
		return false;
	found = placement_row(&tuple, RelationGetDescr(rel), tenant, tenant_len, tier, placed, fenced);
	ReleaseBuffer(buffer);
	return found;
}

/*
 * The placement fence in C: what tenant_placement.enter does in PL/pgSQL, without PL/pgSQL's
 * statements, plan cache and SECURITY DEFINER switch. It reads the placement table directly
 * (its owner grants the caller nothing on it) and reveals only what the PL/pgSQL version's
 * errors do. The caller chooses the tenant and the tier it claims; the answer is the row.
 */
static void
placement_check(FunctionCallInfo fcinfo, bool lock)
{
	text	   *tenant;
	text	   *tier;
	const char *tenant_data;
	size_t		tenant_len;
	Snapshot	latest = NULL;
	Relation	rel;
	Snapshot	snapshot;
	bool		placed = false;
	bool		fenced = false;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		placement_refuse(false);
	tenant = PG_GETARG_TEXT_PP(0);
	tier = PG_GETARG_TEXT_PP(1);
	tenant_data = VARDATA_ANY(tenant);
	tenant_len = VARSIZE_ANY_EXHDR(tenant);
	if (!valid_tenant(tenant_data, tenant_len))
		placement_refuse(false);

	if (lock)
	{
		LOCKTAG		tag;
		int32		hash;

		/* pg_try_advisory_xact_lock_shared(1952804464, hashtext(tenant)), as 1.1's drain expects. */
		hash = DatumGetInt32(DirectFunctionCall1Coll(hashtext, DEFAULT_COLLATION_OID,
													 PointerGetDatum(tenant)));
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) PLACEMENT_LOCK_KEY, (uint32) hash, 2);
		if (LockAcquire(&tag, ShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
			placement_refuse(true);
	}

	rel = placement_open();

	/*
	 * The statement's own snapshot, no other: any snapshot of this transaction was taken after
	 * it began, and the move's drain waits for every transaction that had begun when its flag
	 * was committed; one that began later sees the flag in any snapshot it takes (repeatable
	 * read's included).
	 */
	if (lock)
	{
		/* Taken after the lock, so a fence committed before a 1.1 drain took it is seen. */
		latest = RegisterSnapshot(GetLatestSnapshot());
		snapshot = latest;
	}
	else
		snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
	if (!placement_fetch_cached(rel, snapshot, tenant_data, tenant_len, tier, &placed, &fenced))
	{
		Relation	index = index_open(placement_index, AccessShareLock);
		ScanKeyData key;
		IndexScanDesc scan;
		TupleTableSlot *slot;
		int			kept = placement_slot(tenant_data, tenant_len);

		/* The index's own collation, so the search descends the tree as it was built. */
		ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
							   index->rd_indcollation[0], F_TEXTEQ, PointerGetDatum(tenant));
		scan = index_beginscan(rel, index, snapshot, 1, 0);
		index_rescan(scan, &key, 1, NULL, 0);
		slot = table_slot_create(rel, NULL);
		if (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			bool		shouldFree;
			HeapTuple	tuple = ExecFetchSlotHeapTuple(slot, false, &shouldFree);

			if (placement_row(tuple, RelationGetDescr(rel), tenant_data, tenant_len, tier,
							  &placed, &fenced))
			{
				if (kept < 0)
				{
					kept = next_placement;
					next_placement = (next_placement + 1) % CACHE_SLOTS;
					placements[kept].len = (uint8) tenant_len;
					memcpy(placements[kept].tenant, tenant_data, tenant_len);
				}
				placements[kept].tid = slot->tts_tid;
			}
			if (shouldFree)
				heap_freetuple(tuple);
		}
		ExecDropSingleTupleTableSlot(slot);
		index_endscan(scan);
		index_close(index, AccessShareLock);
	}
	if (latest != NULL)
		UnregisterSnapshot(latest);
	table_close(rel, AccessShareLock);
	if (!placed)
		placement_refuse(false);
	if (fenced)
		placement_refuse(true);
}

/*
 * The two-argument check keeps 1.1's shared lock. Installing this library replaces the one the
 * server loads for every database at once, before any ALTER EXTENSION: processes of an older
 * tenant-sqlx still call this symbol in BEGIN, and their drains take the lock exclusively to
 * wait for those transactions. Without it here, an older drain would return while
 * transactions that passed the check still write. tenant-sqlx calls the three-argument
 * check, which takes no lock: its drain waits for the transactions themselves.
 */
Datum
tenant_rls_placement_enter(PG_FUNCTION_ARGS)
{
	placement_check(fcinfo, true);
	PG_RETURN_VOID();
}

/*
 * The check, then set_config('search_path', search_path, true)'s work, with its privileges
 * (the caller's: search_path is a user setting). After the check: a refused tenant's BEGIN
 * fails before any of it matters, as the transaction is then aborted either way.
 */
Datum
tenant_rls_placement_enter_path(PG_FUNCTION_ARGS)
{
	char	   *path;

	placement_check(fcinfo, false);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("tenant_rls: the search path is NULL")));
	path = text_to_cstring(PG_GETARG_TEXT_PP(2));
	(void) set_config_option("search_path", path,
							 superuser() ? PGC_SUSET : PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	pfree(path);
	PG_RETURN_VOID();
}
