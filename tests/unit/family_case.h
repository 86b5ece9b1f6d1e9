/*
 * family_case.h: table-driven checks of one payload family, shared by the
 * family tests (test_tasmota.c, test_shelly.c). Static functions only: each
 * test program includes it once.
 */
#ifndef SH_TEST_FAMILY_CASE_H
#define SH_TEST_FAMILY_CASE_H

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "sensors/family.h"

/* One message and what the family must make of it. */
struct fcase {
	const char *name;       /* what the row shows, and where the payload comes from */
	int binding;            /* index into the test's bindings */
	const char *topic;      /* the topic it arrives on: one of topics() */
	const char *payload;    /* NUL-terminated; its length is strlen */
	enum family_reject why; /* REJECT_NONE: accepted */
	int n;                  /* accepted: how many values */
	struct sh_point_value v[4];
	int drops; /* fields dropped alone */
};

static void fcase_no_report(void *ctx, int severity, const struct cJSON *node, const char *key,
                            const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	(void)ctx;
	(void)node;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fail_msg("configure reported [%d] %s: %s", severity, key, msg);
}

/* A binding as the config would make it from mqtt_json (the family's keys,
 * "{}" for none); the test frees it with family_binding_free. */
static void fcase_bind(struct family_binding *b, const char *format, enum sh_kind kind,
                       int is_output, const char *topic, const char *mqtt_json)
{
	const struct family *f = family_find(format);
	const struct cfg_report cfg = {.ctx = NULL, .report = fcase_no_report};
	cJSON *m = cJSON_Parse(mqtt_json);

	assert_non_null(f);
	assert_non_null(m);
	memset(b, 0, sizeof(*b));
	b->topic = strdup(topic);
	b->format = strdup(format);
	b->kind = kind;
	b->is_output = is_output;
	if (f->configure)
		assert_int_equal(f->configure(b, m, &cfg), 0);
	cJSON_Delete(m);
}

/* The topic number of topic among b's topics, or -1. */
static int fcase_which(const struct family *f, const struct family_binding *b, const char *topic)
{
	char t[FAMILY_MAX_TOPICS][256];
	int n = f->topics(b, t, FAMILY_MAX_TOPICS);

	for (int i = 0; i < n; i++)
		if (strcmp(t[i], topic) == 0)
			return i;
	return -1;
}

static void fcase_run(const char *format, const struct family_binding *bindings,
                      const struct fcase *rows, size_t nrows)
{
	const struct family *f = family_find(format);
	int failed = 0;

	assert_non_null(f);
	for (size_t r = 0; r < nrows; r++) {
		const struct fcase *c = &rows[r];
		const struct family_binding *b = &bindings[c->binding];
		struct sh_point_value v[FAMILY_MAX_VALUES];
		struct family_drops d;
		enum family_reject why = REJECT_NONE;
		int which = fcase_which(f, b, c->topic), n = -1, rc, bad = 0;

		if (which < 0) {
			print_message("row %zu (%s): %s is not a topic of the binding\n", r,
			              c->name, c->topic);
			failed++;
			continue;
		}
		rc = f->decode(b, which, c->payload, strlen(c->payload), v, &n, &why, &d);
		if (c->why != REJECT_NONE) {
			bad = rc >= 0 || why != c->why || n != 0;
		} else {
			bad = rc < 0 || n != c->n || d.count != c->drops;
			for (int i = 0; !bad && i < c->n; i++) {
				int found = 0;
				for (int k = 0; k < n; k++)
					if (v[k].point == c->v[i].point) {
						found = 1;
						bad |= v[k].value < c->v[i].value - 1e-9 ||
						       v[k].value > c->v[i].value + 1e-9;
					}
				bad |= !found;
			}
		}
		if (bad) {
			print_message("row %zu (%s): rc %d why %s n %d drops %d", r, c->name, rc,
			              family_reject_name(why), n, d.count);
			for (int k = 0; rc >= 0 && k < n; k++)
				print_message(" %s=%g", sh_point_name(v[k].point), v[k].value);
			print_message("\n");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* ---- config errors ------------------------------------------------------ */

#define FCASE_MAX_DIAGS 32

struct fcase_diags {
	int n, errors;
	char msg[FCASE_MAX_DIAGS][512];
};

static void fcase_capture(void *ctx, int severity, const char *msg)
{
	struct fcase_diags *d = ctx;

	if (severity == 0)
		d->errors++;
	if (d->n < FCASE_MAX_DIAGS)
		snprintf(d->msg[d->n++], sizeof(d->msg[0]), "%s", msg);
}

/* Load a config text; returns the config (the caller frees it) or NULL. */
static struct config *fcase_load(const char *text, struct fcase_diags *d)
{
	int nerrors = -1;
	struct config *c;

	memset(d, 0, sizeof(*d));
	c = config_load_string(text, "site.json", "/tmp", fcase_capture, d, &nerrors);
	assert_int_equal(nerrors, d->errors);
	return c;
}

static void fcase_expect(const struct fcase_diags *d, const char *msg)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->msg[i], msg) == 0)
			return;
	for (int i = 0; i < d->n; i++)
		print_message("  got %s\n", d->msg[i]);
	fail_msg("expected %s", msg);
}

#endif
