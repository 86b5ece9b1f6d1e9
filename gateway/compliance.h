/*
 * compliance.h: the inspection criteria (data, rules/model/criteria.json)
 * and the compliance report built from the store's database.
 *
 * The criteria file is loaded and checked like the config: every error in
 * one pass, as "FILE:LINE:COL: criteria[i].key: message". A criterion is
 * either an automatic check of a small fixed set of types, with its
 * parameters in the file, or "manual" (the inspector's verdict on site).
 *
 * The report reads the database through its own read-only connection
 * (WAL lets it read beside the daemon's writer), so it may run on a worker
 * thread, in another process, or on a copy of the file taken away. It
 * never writes. Its JSON shape is the contract with the HTML rendering
 * (gateway/report_html.c) and is documented in docs/compliance.md.
 */
#ifndef SH_COMPLIANCE_H
#define SH_COMPLIANCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

struct cJSON;
struct compliance_criteria;

/* Load and check the criteria file. Problems go to diag (severity 0 =
 * error), one call each; returns NULL when there was any error (*nerrors
 * gets the count when not NULL). Free with compliance_criteria_free. */
struct compliance_criteria *compliance_criteria_load(const char *path, config_diag_fn diag,
                                                     void *ctx, int *nerrors);
void compliance_criteria_free(struct compliance_criteria *cr);

int compliance_criteria_count(const struct compliance_criteria *cr);
/* The id of criterion i (owned by cr). */
const char *compliance_criterion_id(const struct compliance_criteria *cr, int i);
/* Index of the criterion with this id, or -1. */
int compliance_criterion_find(const struct compliance_criteria *cr, const char *id);
/* The closest id to a wrong one (for "did you mean"), or NULL. */
const char *compliance_criterion_suggest(const struct compliance_criteria *cr, const char *id);
int compliance_criterion_manual(const struct compliance_criteria *cr, int i);

/* Build the report of [from_ms, to_ms) (wall clock, UTC ms) for site c
 * from the database file at db_path, read-only. lang: LANG_VI or LANG_EN.
 * now_ms is the time the report is made (generated_at; what is still
 * pending is measured up to min(now_ms, to_ms)). auto_only: skip the
 * inventory and the history lists (the daily self-check needs only the
 * verdicts). Returns a new cJSON object the caller frees with
 * cJSON_Delete, or NULL with why in err. Slow (a query per section): never
 * call it on the event loop's thread. */
struct cJSON *compliance_report(const struct config *c, const struct compliance_criteria *cr,
                                const char *db_path, int64_t from_ms, int64_t to_ms, int64_t now_ms,
                                int lang, int auto_only, char *err, size_t errlen);

/* The report as plain text (for a terminal or a mail), in the report's
 * language. Returns 0 or -1 (a write error). */
int compliance_render_text(const struct cJSON *report, FILE *out);

/* Write report as format "json" (pretty), "text" or "html"
 * (report_html()). Returns 0, -1 on a write error, -2 for an unknown
 * format. */
int compliance_write(const struct cJSON *report, const char *format, FILE *out);

/* Parse a --from/--to value: "YYYY-MM-DD" (midnight, site time: the
 * process's TZ) or RFC 3339 ("2026-11-29T03:04:05Z", offset or Z). Returns
 * 0 and sets *ms, or -1. */
int compliance_parse_time(const char *s, int64_t *ms);

#endif
