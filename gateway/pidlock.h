/*
 * pidlock.h: one daemon per database.
 *
 * A second safehoused started on the same config must refuse before it
 * opens the database or connects to a broker with the live one's client id
 * (the broker would drop the live daemon's session). An exclusive flock(2)
 * on a lock file beside the database is the first thing the daemon takes;
 * the kernel drops it when the process dies, however it dies, so a crash
 * never leaves a stale lock. The file itself is never removed: unlinking a
 * lock file lets a third process lock a new inode while the second still
 * holds the old one.
 */
#ifndef SH_PIDLOCK_H
#define SH_PIDLOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Lock path (created mode 0640 if missing) and write our pid into it.
 * Returns the descriptor that holds the lock: keep it open for the life of
 * the process, close it (or exit) to release. Returns -EAGAIN when another
 * process holds the lock, with its pid in *holder (0 when the file does not
 * say yet); any other negative errno when the file cannot be opened or
 * locked, with a reason in err. */
int pidlock_take(const char *path, pid_t *holder, char *err, size_t errlen);

#endif
