/*
 * svc.h: telling the service manager how the daemon is doing (systemd's
 * notification protocol, sd_notify(3)), for safehoused and
 * safehouse-station. Nothing else includes systemd's headers.
 *
 * Type=notify units wait for svc_ready() before they count the daemon as
 * started (so `systemctl start` returns once the sirens can be driven), and
 * with WatchdogSec= they restart a daemon whose pings stop. The pings must
 * come from the event loop itself (a loop timer calling svc_watchdog_ping
 * every svc_watchdog_ms()), never from a thread of their own: a loop that
 * hangs then stops pinging, and that is exactly what the watchdog is for.
 *
 * Every call is a no-op when the process was not started by a service
 * manager (no NOTIFY_SOCKET in the environment). Failures to notify are returned, never
 * fatal: the daemon guards the house whether systemd hears it or not.
 *
 * common/ rule: this includes nothing from the other folders (the callers
 * own the loop timer).
 */
#ifndef SH_SVC_H
#define SH_SVC_H

#include <stdint.h>

/* READY=1, with status (may be NULL) as the STATUS= line `systemctl
 * status` shows. Returns 0 (also when nobody listens) or a negative errno. */
int svc_ready(const char *status);

/* A free-form STATUS= line (printf format). */
int svc_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* RELOADING=1 (with MONOTONIC_USEC=, which systemd >= 253 wants), at the
 * start of a reload; svc_ready() again when it is over (also when it failed
 * and the running configuration stays). */
int svc_reloading(void);

/* STOPPING=1, when the daemon begins to shut down. */
int svc_stopping(void);

/* How often to ping, in ms: half of the watchdog interval the manager set
 * (WATCHDOG_USEC, for this process: WATCHDOG_PID), or 0 when there is no
 * watchdog (then never ping). At least 1 ms when there is one. */
int64_t svc_watchdog_ms(void);

/* WATCHDOG=1: "the event loop is still turning". */
int svc_watchdog_ping(void);

#endif
