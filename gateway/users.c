/*
 * users.c: users, hashed codes, duress, lock-out.
 */
#include "users.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

/* Argon2id at 2 passes over 8 MiB: about 10 ms on a Pi-class board. A PIN
 * has few digits, so the hash only slows an offline attack on a stolen SD
 * card; the lock-out is what stops guessing at the panel. */
#define HASH_OPS 2
#define HASH_MEM (8u * 1024 * 1024)
#define HASH_LEN crypto_pwhash_STRBYTES

struct user {
	char name[64];
	char role[16];
	char pin[HASH_LEN];
	char duress[HASH_LEN]; /* "" when none */
};

struct users {
	struct store *store;
	struct user u[USERS_MAX];
	int n;
	int64_t fails[USERS_FAIL_LIMIT]; /* monotonic times of the last failures */
	int nfails;
	int64_t locked_until;
};

/* inspector: the commune police officer who inspects the house (the
 * checklist of `safehousectl inspect`). */
static const char *const roles[] = {"owner", "tenant", "installer", "inspector", NULL};

int users_hash(const char *pin, char *out)
{
	return crypto_pwhash_str(out, pin, strlen(pin), HASH_OPS, HASH_MEM);
}

static void load_cb(void *ctx, const char *name, const char *role, const char *pin_hash,
                    const char *duress_hash)
{
	struct users *u = ctx;
	struct user *x;
	if (u->n >= USERS_MAX || !name || !role || !pin_hash)
		return;
	x = &u->u[u->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", name);
	snprintf(x->role, sizeof(x->role), "%s", role);
	snprintf(x->pin, sizeof(x->pin), "%s", pin_hash);
	snprintf(x->duress, sizeof(x->duress), "%s", duress_hash ? duress_hash : "");
}

struct users *users_new(struct store *s)
{
	struct users *u;
	if (sodium_init() < 0)
		return NULL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->store = s;
	if (store_users_foreach(s, load_cb, u) < 0)
		log_warn("users: cannot read the users from the store");
	return u;
}

void users_free(struct users *u)
{
	if (!u)
		return;
	sodium_memzero(u, sizeof(*u));
	free(u);
}

static struct user *find(struct users *u, const char *name)
{
	for (int i = 0; i < u->n; i++)
		if (strcmp(u->u[i].name, name) == 0)
			return &u->u[i];
	return NULL;
}

static int valid_pin(const char *pin, const char *what, char *why, size_t whylen)
{
	size_t n = pin ? strlen(pin) : 0;
	if (n < 4 || n > 8 || strspn(pin, "0123456789") != n) {
		snprintf(why, whylen, "%s must be 4 to 8 digits", what);
		return 0;
	}
	return 1;
}

static int valid_name(const char *name, char *why, size_t whylen)
{
	size_t n = name ? strlen(name) : 0;
	if (n < 1 || n > 63 || strpbrk(name, "\n\r\t\"\\")) {
		snprintf(why, whylen, "a user name is 1 to 63 characters, on one line");
		return 0;
	}
	return 1;
}

static int save(struct users *u, const struct user *x, int64_t wall_ms)
{
	return store_user_put(u->store, x->name, x->role, x->pin, x->duress[0] ? x->duress : NULL,
	                      wall_ms);
}

static int set_codes(struct user *x, const char *pin, const char *duress_pin, char *why,
                     size_t whylen)
{
	if (users_hash(pin, x->pin) != 0 ||
	    (duress_pin && users_hash(duress_pin, x->duress) != 0)) {
		snprintf(why, whylen, "cannot hash the code (out of memory)");
		return -ENOMEM;
	}
	if (!duress_pin)
		x->duress[0] = 0;
	return 0;
}

int users_add(struct users *u, const char *name, const char *role, const char *pin,
              const char *duress_pin, int64_t wall_ms, char *why, size_t whylen)
{
	struct user x;
	int ok_role = 0, rc;
	for (int i = 0; role && roles[i]; i++)
		ok_role |= strcmp(roles[i], role) == 0;
	if (!valid_name(name, why, whylen))
		return -EINVAL;
	if (!ok_role) {
		snprintf(why, whylen, "role must be owner, tenant, installer or inspector");
		return -EINVAL;
	}
	if (!valid_pin(pin, "the PIN", why, whylen) ||
	    (duress_pin && !valid_pin(duress_pin, "the duress PIN", why, whylen)))
		return -EINVAL;
	if (duress_pin && strcmp(pin, duress_pin) == 0) {
		snprintf(why, whylen, "the duress PIN must differ from the PIN");
		return -EINVAL;
	}
	if (find(u, name)) {
		snprintf(why, whylen, "user \"%s\" exists already (use passwd)", name);
		return -EEXIST;
	}
	if (u->n >= USERS_MAX) {
		snprintf(why, whylen, "at most %d users", USERS_MAX);
		return -ENOSPC;
	}
	memset(&x, 0, sizeof(x));
	snprintf(x.name, sizeof(x.name), "%s", name);
	snprintf(x.role, sizeof(x.role), "%s", role);
	if ((rc = set_codes(&x, pin, duress_pin, why, whylen)) < 0)
		return rc;
	u->u[u->n++] = x;
	save(u, &x, wall_ms);
	return 0;
}

int users_del(struct users *u, const char *name, int64_t wall_ms, char *why, size_t whylen)
{
	for (int i = 0; i < u->n; i++) {
		if (strcmp(u->u[i].name, name) != 0)
			continue;
		store_user_del(u->store, name, wall_ms);
		u->u[i] = u->u[--u->n];
		return 0;
	}
	snprintf(why, whylen, "no user \"%s\"", name ? name : "");
	return -ENOENT;
}

int users_passwd(struct users *u, const char *name, const char *pin, const char *duress_pin,
                 int64_t wall_ms, char *why, size_t whylen)
{
	struct user *x = find(u, name ? name : "");
	struct user copy;
	int rc;
	if (!x) {
		snprintf(why, whylen, "no user \"%s\"", name ? name : "");
		return -ENOENT;
	}
	if (!valid_pin(pin, "the PIN", why, whylen) ||
	    (duress_pin && !valid_pin(duress_pin, "the duress PIN", why, whylen)))
		return -EINVAL;
	copy = *x;
	if ((rc = set_codes(&copy, pin, duress_pin, why, whylen)) < 0)
		return rc;
	*x = copy;
	save(u, x, wall_ms);
	return 0;
}

int users_check(struct users *u, const char *code, int64_t mono_ms, const char **name, int *duress,
                int *lock_started, char *why, size_t whylen)
{
	size_t len = code ? strlen(code) : 0;
	*lock_started = 0;
	*duress = 0;
	if (u->locked_until > mono_ms) {
		snprintf(why, whylen,
		         "code entry is locked for %lld more second(s) after %d wrong "
		         "codes",
		         (long long)((u->locked_until - mono_ms + 999) / 1000), USERS_FAIL_LIMIT);
		return -EAGAIN;
	}
	for (int i = 0; code && len <= 16 && i < u->n; i++) {
		if (crypto_pwhash_str_verify(u->u[i].pin, code, len) == 0) {
			*name = u->u[i].name;
			u->nfails = 0;
			return 0;
		}
		if (u->u[i].duress[0] && crypto_pwhash_str_verify(u->u[i].duress, code, len) == 0) {
			*name = u->u[i].name;
			*duress = 1;
			u->nfails = 0;
			return 0;
		}
	}
	/* Keep the times of the last failures; a lock starts when the
	 * oldest of the last five is less than the window ago. */
	if (u->nfails == USERS_FAIL_LIMIT) {
		memmove(u->fails, u->fails + 1, sizeof(u->fails[0]) * (USERS_FAIL_LIMIT - 1));
		u->nfails--;
	}
	u->fails[u->nfails++] = mono_ms;
	if (u->nfails == USERS_FAIL_LIMIT && mono_ms - u->fails[0] <= USERS_FAIL_WINDOW_MS) {
		u->locked_until = mono_ms + USERS_LOCK_MS;
		u->nfails = 0;
		*lock_started = 1;
		snprintf(why, whylen,
		         "wrong code; %d wrong codes: code entry locked for %d minutes",
		         USERS_FAIL_LIMIT, USERS_LOCK_MS / 60000);
		return -EACCES;
	}
	snprintf(why, whylen, "wrong code");
	return -EACCES;
}

int users_count(const struct users *u)
{
	return u ? u->n : 0;
}

cJSON *users_json(const struct users *u)
{
	cJSON *arr = cJSON_CreateArray();
	for (int i = 0; u && i < u->n; i++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", u->u[i].name);
		cJSON_AddStringToObject(o, "role", u->u[i].role);
		cJSON_AddBoolToObject(o, "duress", u->u[i].duress[0] != 0);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

const char *users_role(const struct users *u, const char *name)
{
	for (int i = 0; u && name && i < u->n; i++)
		if (strcmp(u->u[i].name, name) == 0)
			return u->u[i].role;
	return NULL;
}
