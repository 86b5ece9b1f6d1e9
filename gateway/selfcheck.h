/*
 * selfcheck.h: the compliance report off the event loop's thread, for
 * `safehousectl report` and the daily self-check.
 *
 * A report reads months of history: far too long for the loop that sounds
 * the sirens. Each one runs on this module's worker thread (worker.h) with
 * its own read-only connection to the database (WAL: it reads beside the
 * writer) and its own copy of the config and criteria, loaded from the
 * files for that run, so a reload never changes what a running report
 * reads. The result comes back on the loop's thread.
 *
 * The daily self-check: at self_check_at (site time) the automatic
 * criteria are evaluated over the last 31 days; each criterion that fails
 * now and did not at the previous check (kept in the store's state table,
 * so a restart does not tell the owner again) becomes a notice to the
 * config's criteria.notify contacts, through the outbox. The last summary
 * is in the status ("compliance").
 */
#ifndef SH_SELFCHECK_H
#define SH_SELFCHECK_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct store;
struct upstream;
struct config;
struct cJSON;

struct selfcheck;

/* report: the report (the callee takes it over), or NULL with err. */
typedef void (*selfcheck_done_fn)(void *ctx, struct cJSON *report, const char *err);

/* Start the worker. config_path: the file each run loads (copied). c: the
 * current config, for the schedule and the contacts (see
 * selfcheck_set_config). NULL with why in err. */
struct selfcheck *selfcheck_new(struct loop *loop, struct store *store, struct upstream *up,
                                const char *config_path, const struct config *c, char *err,
                                size_t errlen);
/* Stop the thread (waiting for a report in progress) and free. Pending
 * callbacks are called with err "stopping". Accepts NULL. */
void selfcheck_free(struct selfcheck *sc);
/* After a reload: the new config (the schedule is set again). */
void selfcheck_set_config(struct selfcheck *sc, const struct config *c);

/* Queue a report of [from_ms, to_ms) in lang (enum config_language);
 * fn(ctx, ...) is called on the loop's thread when it is done. Returns 0,
 * or -1 (out of memory, or too many queued: fn is not called). */
int selfcheck_report(struct selfcheck *sc, int64_t from_ms, int64_t to_ms, int lang,
                     selfcheck_done_fn fn, void *ctx);

/* Run the self-check now (also what the daily timer does). */
void selfcheck_run_now(struct selfcheck *sc);

/* The last self-check for the status: {"at", "passed", "failed",
 * "not_checked", "failing": [ids]} or {"at": null} before the first.
 * The caller frees it. */
struct cJSON *selfcheck_status(const struct selfcheck *sc);

#endif
