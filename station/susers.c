/*
 * susers.c: officer and viewer accounts with Argon2id hashes, and the
 * per-name lock against password guessing (susers.h).
 */
#include "susers.h"
#include "sstore.h"
#include "gateway/log.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Failures of one name: the times of the last SUSERS_FAIL_LIMIT of them
 * (a ring), and the end of its lock. */
struct track {
	char name[SUSERS_NAME_MAX + 1];
	int64_t fails[SUSERS_FAIL_LIMIT];
	int nfails, next;
	int64_t locked_until; /* 0: not locked */
	int64_t last_ms;      /* for evicting the oldest */
};

struct susers {
	struct sstore *s;
	/* A real hash of a random password, so that an unknown name costs a
	 * full verify like a known one. */
	char dummy[crypto_pwhash_STRBYTES];
	struct track t[SUSERS_TRACK_MAX];
	int nt;
};

static void say(char *why, size_t whylen, const char *fmt, const char *arg)
{
	if (why && whylen)
		snprintf(why, whylen, fmt, arg);
}

static int name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n < 1 || n > SUSERS_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static int role_ok(const char *role)
{
	return role && (strcmp(role, "officer") == 0 || strcmp(role, "viewer") == 0);
}

static int password_ok(const char *pw, char *why, size_t whylen)
{
	size_t n = pw ? strlen(pw) : 0;

	if (n < SUSERS_PASSWORD_MIN || n > SUSERS_PASSWORD_MAX) {
		if (why && whylen)
			snprintf(why, whylen, "a password must be %d to %d bytes long, not %zu",
			         SUSERS_PASSWORD_MIN, SUSERS_PASSWORD_MAX, n);
		return 0;
	}
	return 1;
}

static int hash(const char *pw, char out[crypto_pwhash_STRBYTES])
{
	return crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
	                         crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
	           ? 0
	           : -ENOMEM;
}

struct susers *susers_new(struct sstore *s)
{
	struct susers *u;
	unsigned char rnd[32];
	char pw[2 * sizeof(rnd) + 1];

	if (sodium_init() < 0) {
		log_err("susers: libsodium cannot start");
		return NULL;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->s = s;
	randombytes_buf(rnd, sizeof(rnd));
	sodium_bin2hex(pw, sizeof(pw), rnd, sizeof(rnd));
	if (hash(pw, u->dummy) < 0) {
		log_err("susers: cannot hash (out of memory?)");
		free(u);
		return NULL;
	}
	return u;
}

void susers_free(struct susers *u)
{
	free(u);
}

static struct track *track_find(struct susers *u, const char *name)
{
	for (int i = 0; i < u->nt; i++)
		if (strcmp(u->t[i].name, name) == 0)
			return &u->t[i];
	return NULL;
}

/* The name's entry, made when absent: a free slot, else the one touched
 * longest ago (a lock still running is the last to go: an attacker
 * flooding names should not be able to unlock the name they guess). */
static struct track *track_get(struct susers *u, const char *name, int64_t now)
{
	struct track *t = track_find(u, name);
	int victim = -1;

	if (t)
		return t;
	if (u->nt < SUSERS_TRACK_MAX) {
		victim = u->nt++;
	} else {
		for (int pass = 0; pass < 2 && victim < 0; pass++)
			for (int i = 0; i < u->nt; i++) {
				if (pass == 0 && u->t[i].locked_until > now)
					continue;
				if (victim < 0 || u->t[i].last_ms < u->t[victim].last_ms)
					victim = i;
			}
	}
	t = &u->t[victim];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

static void track_forget(struct susers *u, const char *name)
{
	struct track *t = track_find(u, name);

	if (t) {
		*t = u->t[--u->nt];
		memset(&u->t[u->nt], 0, sizeof(u->t[0]));
	}
}

/* Hash password and write the user's row; a failed count of log-ins
 * is forgotten (a new account, or a new password: let them in with it). */
static int store_hashed(struct susers *u, const char *name, const char *role, const char *password,
                        char *why, size_t whylen)
{
	char h[crypto_pwhash_STRBYTES];
	int r;

	if ((r = hash(password, h)) < 0) {
		say(why, whylen, "cannot hash the password (out of memory)%s", "");
		return r;
	}
	r = sstore_user_put(u->s, name, role, h);
	sodium_memzero(h, sizeof(h));
	if (r < 0) {
		say(why, whylen, "cannot write the user to the database%s", "");
		return r;
	}
	track_forget(u, name);
	return 0;
}

int susers_add(struct susers *u, const char *name, const char *role, const char *password,
               char *why, size_t whylen)
{
	int r;

	if (!name_ok(name)) {
		say(why, whylen,
		    "invalid user name \"%.40s\": use 1 to 32 of a-z, 0-9, '.', '_' or '-'",
		    name ? name : "");
		return -EINVAL;
	}
	if (!role_ok(role)) {
		say(why, whylen, "invalid role \"%.20s\": use officer or viewer", role ? role : "");
		return -EINVAL;
	}
	if (!password_ok(password, why, whylen))
		return -EINVAL;
	r = sstore_user_get(u->s, name, NULL, 0, NULL, 0);
	if (r == 0) {
		say(why, whylen, "user %s already exists", name);
		return -EEXIST;
	}
	if (r != -ENOENT) {
		say(why, whylen, "cannot read the users from the database%s", "");
		return r;
	}
	if ((r = store_hashed(u, name, role, password, why, whylen)) < 0)
		return r;
	log_notice("susers: user %s added as %s", name, role);
	return 0;
}

int susers_passwd(struct susers *u, const char *name, const char *password, char *why,
                  size_t whylen)
{
	char role[16];
	int r;

	if (!name_ok(name) ||
	    (r = sstore_user_get(u->s, name, role, sizeof(role), NULL, 0)) == -ENOENT) {
		say(why, whylen, "no user %.40s", name ? name : "");
		return -ENOENT;
	}
	if (r < 0) {
		say(why, whylen, "cannot read the users from the database%s", "");
		return r;
	}
	if (!password_ok(password, why, whylen))
		return -EINVAL;
	if ((r = store_hashed(u, name, role, password, why, whylen)) < 0)
		return r;
	log_notice("susers: password of %s changed", name);
	return 0;
}

int susers_del(struct susers *u, const char *name, char *why, size_t whylen)
{
	int r = name_ok(name) ? sstore_user_del(u->s, name) : -ENOENT;

	if (r == -ENOENT)
		say(why, whylen, "no user %.40s", name ? name : "");
	else if (r < 0)
		say(why, whylen, "cannot delete the user from the database%s", "");
	else
		log_notice("susers: user %s deleted", name);
	return r;
}

static int retry_left(int64_t until, int64_t now)
{
	return (int)((until - now + 999) / 1000);
}

int susers_check(struct susers *u, const char *name, const char *password, int64_t mono_ms,
                 char *role, size_t rolelen, int *retry_s)
{
	char r_role[16] = "", h[crypto_pwhash_STRBYTES] = "";
	const char *against = u->dummy;
	struct track *t;
	int r, ok;

	if (retry_s)
		*retry_s = 0;
	if (!name || !password)
		return -EACCES;
	/* A name that could never exist is not tracked (it would only take
	 * a slot) but costs the same time as any other. */
	t = name_ok(name) ? track_find(u, name) : NULL;
	if (t && t->locked_until > mono_ms) {
		if (retry_s)
			*retry_s = retry_left(t->locked_until, mono_ms);
		return -EAGAIN;
	}
	r = name_ok(name) ? sstore_user_get(u->s, name, r_role, sizeof(r_role), h, sizeof(h))
	                  : -ENOENT;
	if (r < 0 && r != -ENOENT)
		return r;
	if (r == 0)
		against = h;
	ok = crypto_pwhash_str_verify(against, password, strlen(password)) == 0 && r == 0;
	sodium_memzero(h, sizeof(h));
	if (ok) {
		track_forget(u, name);
		if (role && rolelen)
			snprintf(role, rolelen, "%s", r_role);
		return 0;
	}
	if (!name_ok(name))
		return -EACCES;
	t = track_get(u, name, mono_ms);
	t->last_ms = mono_ms;
	if (t->locked_until && t->locked_until <= mono_ms)
		t->locked_until = 0; /* a lock that ran out starts a fresh count */
	t->fails[t->next] = mono_ms;
	t->next = (t->next + 1) % SUSERS_FAIL_LIMIT;
	if (t->nfails < SUSERS_FAIL_LIMIT)
		t->nfails++;
	/* Full ring: t->fails[t->next] is the oldest of the last five. */
	if (t->nfails == SUSERS_FAIL_LIMIT && mono_ms - t->fails[t->next] < SUSERS_FAIL_WINDOW_MS) {
		t->locked_until = mono_ms + SUSERS_LOCK_MS;
		t->nfails = 0;
		t->next = 0;
		log_warn("susers: %d failed log-ins as %s within %d minutes: locked for %d minutes",
		         SUSERS_FAIL_LIMIT, name, SUSERS_FAIL_WINDOW_MS / 60000,
		         SUSERS_LOCK_MS / 60000);
	}
	return -EACCES;
}

int susers_list(struct susers *u, int (*fn)(void *ctx, const char *name, const char *role),
                void *ctx)
{
	return sstore_users(u->s, fn, ctx);
}
