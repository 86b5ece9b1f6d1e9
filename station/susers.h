/*
 * susers.h: the station's officers and viewers, and their log-ins.
 *
 * Passwords are kept only as Argon2id hashes (libsodium crypto_pwhash_str,
 * interactive limits: about 0.1 s and 64 MiB per check, which is the point)
 * in the store's users table; nothing is cached in memory but the failure
 * counts. An officer may acknowledge alarms from the console; a viewer only
 * looks.
 *
 * Guessing is slowed per account: five failed log-ins of one name within 5
 * minutes lock that name for 5 minutes, a correct password included. Names
 * that do not exist are counted and locked the same way, and cost the same
 * hash time, so the answers do not tell which accounts exist. The counts
 * live in a bounded table (SUSERS_TRACK_MAX names; the oldest is forgotten
 * first), so a flood of made-up names cannot grow the station's memory.
 */
#ifndef SH_SUSERS_H
#define SH_SUSERS_H

#include <stddef.h>
#include <stdint.h>

struct sstore;
struct susers;

#define SUSERS_NAME_MAX 32
#define SUSERS_PASSWORD_MIN 8
#define SUSERS_PASSWORD_MAX 128
#define SUSERS_FAIL_LIMIT 5
#define SUSERS_FAIL_WINDOW_MS (5 * 60 * 1000)
#define SUSERS_LOCK_MS (5 * 60 * 1000)
#define SUSERS_TRACK_MAX 256

/* s stays the caller's and must outlive u. NULL when libsodium cannot start
 * or memory runs out. */
struct susers *susers_new(struct sstore *s);
void susers_free(struct susers *u);

/* name: [a-z0-9._-]{1,32}; role: "officer" or "viewer"; password: 8 to 128
 * bytes. Returns 0, -EEXIST, -EINVAL (why says what), or the store's error.
 * why may be NULL. */
int susers_add(struct susers *u, const char *name, const char *role, const char *password,
               char *why, size_t whylen);
/* A new password for an existing user (also ends a lock on that name).
 * 0, -ENOENT, -EINVAL, or the store's error. */
int susers_passwd(struct susers *u, const char *name, const char *password, char *why,
                  size_t whylen);
/* 0, -ENOENT, or the store's error. */
int susers_del(struct susers *u, const char *name, char *why, size_t whylen);

/* A log-in at mono_ms (the monotonic clock, injected for tests). Returns 0
 * and copies the role into role; -EACCES for an unknown name or a wrong
 * password (the same answer for both); -EAGAIN while the name is locked,
 * with *retry_s the seconds left (rounded up); or the store's error. role
 * and retry_s may be NULL. */
int susers_check(struct susers *u, const char *name, const char *password, int64_t mono_ms,
                 char *role, size_t rolelen, int *retry_s);

/* Every user in name order; fn returning < 0 stops and is returned. */
int susers_list(struct susers *u, int (*fn)(void *ctx, const char *name, const char *role),
                void *ctx);

#endif
