/*
 * cfg_report.h: how a module that parses its own part of the config (a
 * payload family's "mqtt" keys, an alert channel's keys) reports a problem,
 * so that its messages come out like every other config error:
 * FILE:LINE:COL: json.path: message, all in one pass.
 */
#ifndef SH_CFG_REPORT_H
#define SH_CFG_REPORT_H

struct cJSON;

/* node is the JSON item at fault (for file:line:col); key is its path below
 * the object handed to the module, e.g. "siren" or "points[1].path" (for
 * the json.path in the message). Severity 0 is an error, 1 a warning. */
struct cfg_report {
	void *ctx;
	void (*report)(void *ctx, int severity, const struct cJSON *node, const char *key,
	               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
};

#endif
