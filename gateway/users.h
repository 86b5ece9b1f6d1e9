/*
 * users.h: the people who may use the panel, and their codes.
 *
 * Codes (PINs of 4 to 8 digits) are kept only as salted Argon2id hashes
 * (libsodium crypto_pwhash_str), in memory and in the store. A user may also
 * have a duress code: it works like the normal one, and the caller raises a
 * silent panic alarm. Five wrong codes within 5 minutes lock code entry for
 * 5 minutes, whoever tries; the caller raises a tamper alarm when a lock
 * starts.
 *
 * Checking a code costs a few milliseconds per user (that is the point of a
 * password hash); it runs only when a command carries a code.
 */
#ifndef SH_USERS_H
#define SH_USERS_H

#include <stddef.h>
#include <stdint.h>

struct store;
struct users;
struct cJSON;

#define USERS_MAX 32
#define USERS_FAIL_LIMIT 5
#define USERS_FAIL_WINDOW_MS (5 * 60 * 1000)
#define USERS_LOCK_MS (5 * 60 * 1000)

/* Load the users from the store. NULL on allocation failure or when
 * libsodium cannot start. */
struct users *users_new(struct store *s);
void users_free(struct users *u);

/* The role of user name (owned by u, valid until the user is deleted), or
 * NULL when there is no such user. */
const char *users_role(const struct users *u, const char *name);

/* role: owner, tenant, installer or inspector. duress_pin may be NULL. Returns 0,
 * -EEXIST, -EINVAL (why says what), -ENOSPC. */
int users_add(struct users *u, const char *name, const char *role, const char *pin,
              const char *duress_pin, int64_t wall_ms, char *why, size_t whylen);
int users_del(struct users *u, const char *name, int64_t wall_ms, char *why, size_t whylen);
int users_passwd(struct users *u, const char *name, const char *pin, const char *duress_pin,
                 int64_t wall_ms, char *why, size_t whylen);

/* Check a code at mono_ms. Returns 0 and sets *name (valid until the user
 * is deleted) and *duress; -EACCES for a wrong code (*lock_started set when
 * this failure started a lock); -EAGAIN while code entry is locked. */
int users_check(struct users *u, const char *code, int64_t mono_ms, const char **name, int *duress,
                int *lock_started, char *why, size_t whylen);

int users_count(const struct users *u);
/* [{"name","role","duress"}], no hashes. Caller frees. */
struct cJSON *users_json(const struct users *u);

/* Hash one code (for tests and tools). 0 or -1. out must hold 128 bytes. */
int users_hash(const char *pin, char *out);

#endif
