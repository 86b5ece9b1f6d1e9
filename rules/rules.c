/*
 * rules.c: compiling rule files into a rule set, and evaluating readings
 * against it.
 *
 * Evaluation is driven by an index built at compile time: each selector is
 * expanded against the site's sensors, and every (rule, sensor) pair is
 * filed under that sensor and the point its trigger watches. A reading then
 * visits only the rules that can react to it, in rule order, and the eval
 * path allocates nothing.
 */
#include "rules_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rule files are small; anything this big is a mistake (or a fuzzer). */
#define MAX_TEXT (16 * 1024 * 1024)

void rules_cc_diag(struct rules_cc *cc, int file, int line, int col, int severity, const char *fmt,
                   ...)
{
	struct rules_diag_rec *d;
	char msg[1024];
	va_list ap;

	if (severity == 0)
		cc->nerrors++;
	else
		cc->nwarnings++;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cc->ndiags == cc->diags_cap) {
		int cap = cc->diags_cap ? cc->diags_cap * 2 : 16;
		d = realloc(cc->diags, sizeof(*d) * (size_t)cap);
		if (!d) {
			cc->oom = 1;
			return;
		}
		cc->diags = d;
		cc->diags_cap = cap;
	}
	d = &cc->diags[cc->ndiags];
	d->text = strdup(msg);
	if (!d->text) {
		cc->oom = 1;
		return;
	}
	d->file = file;
	d->line = line;
	d->col = col;
	d->severity = severity;
	d->seq = cc->ndiags++;
}

char *rules_cc_strdup(struct rules_cc *cc, const char *s)
{
	struct ruleset *rs = cc->rs;
	char *c;

	if (rs->nstrs == rs->strs_cap) {
		int cap = rs->strs_cap ? rs->strs_cap * 2 : 16;
		char **v = realloc(rs->strs, sizeof(*v) * (size_t)cap);
		if (!v) {
			cc->oom = 1;
			return NULL;
		}
		rs->strs = v;
		rs->strs_cap = cap;
	}
	c = strdup(s);
	if (!c) {
		cc->oom = 1;
		return NULL;
	}
	rs->strs[rs->nstrs++] = c;
	return c;
}

/* A NULL-terminated list of the ids of n config items, for lookups and
 * sh_suggest(). The strings stay the config's. */
static const char **id_list(const void *items, int n, size_t stride, size_t id_off)
{
	const char **ids = calloc((size_t)n + 1, sizeof(*ids));

	if (!ids)
		return NULL;
	for (int i = 0; i < n; i++) {
		const char *id =
		    *(char *const *)((const char *)items + (size_t)i * stride + id_off);
		ids[i] = id ? id : "";
	}
	return ids;
}

static int cc_init(struct rules_cc *cc, const struct rules_site *site)
{
	const struct config *c = site ? site->config : NULL;
	int ns = c ? c->nsensors : 0, nz = c ? c->nzones : 0, nc = c ? c->ncontacts : 0;

	memset(cc, 0, sizeof(*cc));
	cc->cfg = c;
	cc->rs = calloc(1, sizeof(*cc->rs));
	cc->sensor_ids = id_list(c ? c->sensors : NULL, ns, sizeof(struct config_sensor),
	                         offsetof(struct config_sensor, id));
	cc->zone_ids = id_list(c ? c->zones : NULL, nz, sizeof(struct config_zone),
	                       offsetof(struct config_zone, id));
	cc->contact_ids = id_list(c ? c->contacts : NULL, nc, sizeof(struct config_contact),
	                          offsetof(struct config_contact, id));
	if (!cc->rs || !cc->sensor_ids || !cc->zone_ids || !cc->contact_ids) {
		cc->oom = 1;
		return -ENOMEM;
	}
	return 0;
}

static int cc_add_file(struct rules_cc *cc, const char *name)
{
	struct ruleset *rs = cc->rs;
	char **v = realloc(rs->files, sizeof(*v) * ((size_t)rs->nfiles + 1));

	if (!v) {
		cc->oom = 1;
		return -ENOMEM;
	}
	rs->files = v;
	v[rs->nfiles] = strdup(name);
	if (!v[rs->nfiles]) {
		cc->oom = 1;
		return -ENOMEM;
	}
	return rs->nfiles++;
}

static int sel_match(const struct config *cfg, const struct rules_sel *sel, int s)
{
	const struct config_sensor *cs = &cfg->sensors[s];

	switch (sel->type) {
	case SEL_KIND:
		return (int)cs->kind == sel->kind && (sel->zone < 0 || cs->zone == sel->zone);
	case SEL_SENSOR:
		return s == sel->sensor;
	case SEL_ZONE:
		return cs->zone == sel->zone;
	case SEL_ANY:
		return 1;
	}
	return 0;
}

/* The point a trigger watches on a sensor of kind k; POINT__COUNT: none. */
static enum sh_point trig_point(const struct rules_trigger *t, enum sh_kind k)
{
	if ((unsigned)k >= KIND__COUNT)
		return POINT__COUNT;
	if (t->type == TRIG_BECOMES)
		return t->state->point != POINT__COUNT ? t->state->point : sh_kind_primary_point(k);
	return t->point != POINT__COUNT ? t->point : sh_kind_numeric_point(k);
}

static const char *zone_id(const struct config *cfg, int z)
{
	return z >= 0 && z < cfg->nzones && cfg->zones[z].id ? cfg->zones[z].id : "?";
}

/* Warn about rules whose selector matches nothing that can fire them: most
 * often a shipped model rule for a kind this site does not have. */
static void check_reach(struct rules_cc *cc)
{
	static const struct config empty;
	const struct config *cfg = cc->cfg ? cc->cfg : &empty;
	struct ruleset *rs = cc->rs;

	for (int r = 0; r < rs->nrules; r++) {
		const struct rules_rule *rule = &rs->rules[r];
		const struct rules_sel *sel = &rule->trig.sel;
		int matched = 0, watched = 0;
		char why[256];

		if (!rule->trig_ok)
			continue;
		for (int s = 0; s < cfg->nsensors; s++) {
			if (!sel_match(cfg, sel, s))
				continue;
			matched++;
			watched += trig_point(&rule->trig, cfg->sensors[s].kind) != POINT__COUNT;
		}
		if (watched)
			continue;
		if (matched && rule->trig.type == TRIG_BECOMES)
			snprintf(why, sizeof(why), "no selected sensor has a \"%s\" state",
			         rule->trig.state->name);
		else if (sel->type == SEL_KIND && sel->zone >= 0)
			snprintf(why, sizeof(why), "no %s sensor in zone \"%s\"",
			         sh_kind_name((enum sh_kind)sel->kind), zone_id(cfg, sel->zone));
		else if (sel->type == SEL_KIND)
			snprintf(why, sizeof(why), "the site has no %s sensor",
			         sh_kind_name((enum sh_kind)sel->kind));
		else if (sel->type == SEL_ZONE)
			snprintf(why, sizeof(why), "zone \"%s\" has no sensors",
			         zone_id(cfg, sel->zone));
		else
			snprintf(why, sizeof(why), "the site has no sensors");
		rules_cc_diag(cc, rule->file, sel->line, sel->col, 1,
		              "%s; rule \"%s\" can never fire", why, rule->name);
	}
}

static int build_index(struct rules_cc *cc)
{
	const struct config *cfg = cc->cfg;
	struct ruleset *rs = cc->rs;
	int ns = cfg ? cfg->nsensors : 0, nb = ns * POINT__COUNT, *fill = NULL, rc = -ENOMEM;

	rs->nsensors = ns;
	rs->sensor_zone = calloc((size_t)ns + 1, sizeof(int));
	rs->index = calloc((size_t)nb + 1, sizeof(int));
	fill = calloc((size_t)nb + 1, sizeof(int));
	if (!rs->sensor_zone || !rs->index || !fill)
		goto out;
	for (int s = 0; s < ns; s++)
		rs->sensor_zone[s] = cfg->sensors[s].zone;

	/* Count per bucket, then fill in rule order: rules outermost, so that
	 * each bucket lists its rules in source order. */
	for (int pass = 0; pass < 2; pass++) {
		for (int r = 0; r < rs->nrules; r++) {
			const struct rules_rule *rule = &rs->rules[r];
			if (!rule->trig_ok)
				continue;
			for (int s = 0; s < ns; s++) {
				enum sh_point p;
				int b;
				if (!sel_match(cfg, &rule->trig.sel, s))
					continue;
				p = trig_point(&rule->trig, cfg->sensors[s].kind);
				if (p == POINT__COUNT)
					continue;
				b = s * POINT__COUNT + (int)p;
				if (pass == 0) {
					rs->index[b + 1]++;
				} else {
					struct rules_entry *e = &rs->entries[fill[b]++];
					e->rule = r;
				}
			}
		}
		if (pass == 0) {
			for (int b = 0; b < nb; b++)
				rs->index[b + 1] += rs->index[b];
			rs->nentries = rs->index[nb];
			rs->entries = calloc((size_t)rs->nentries + 1, sizeof(*rs->entries));
			if (!rs->entries)
				goto out;
			memcpy(fill, rs->index, sizeof(int) * (size_t)nb);
		}
	}
	rc = 0;
out:
	free(fill);
	if (rc < 0)
		cc->oom = 1;
	return rc;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct rules_diag_rec *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Index, then report every diagnostic in file and position order, then hand
 * over the rule set, or free it when there was an error. */
static struct ruleset *cc_finish(struct rules_cc *cc, rules_diag_fn diag, void *ctx, int *nerrors,
                                 int *nwarnings)
{
	struct ruleset *rs = cc->rs;

	if (!cc->oom)
		check_reach(cc);
	if (!cc->oom && cc->nerrors == 0)
		build_index(cc);

	if (cc->ndiags)
		qsort(cc->diags, (size_t)cc->ndiags, sizeof(*cc->diags), diag_cmp);
	for (int i = 0; i < cc->ndiags; i++) {
		const struct rules_diag_rec *d = &cc->diags[i];
		const char *file =
		    d->file >= 0 && rs && d->file < rs->nfiles ? rs->files[d->file] : "?";
		char msg[1280];
		if (d->line > 0)
			snprintf(msg, sizeof(msg), "%s:%d:%d: %s", file, d->line, d->col, d->text);
		else
			snprintf(msg, sizeof(msg), "%s: %s", file, d->text);
		if (diag)
			diag(ctx, d->severity, msg);
		free(d->text);
	}
	if (cc->oom) {
		cc->nerrors++;
		if (diag)
			diag(ctx, 0, "rules: out of memory");
	}
	free(cc->diags);
	free(cc->sensor_ids);
	free(cc->zone_ids);
	free(cc->contact_ids);
	if (nerrors)
		*nerrors = cc->nerrors;
	if (nwarnings)
		*nwarnings = cc->nwarnings;
	if (cc->nerrors) {
		rules_free(rs);
		return NULL;
	}
	return rs;
}

static void compile_text(struct rules_cc *cc, const char *name, const char *text, size_t len)
{
	int file = cc_add_file(cc, name);

	if (file < 0)
		return;
	if (len > MAX_TEXT) {
		rules_cc_diag(cc, file, 0, 0, 0, "too large (more than %d bytes)", MAX_TEXT);
		return;
	}
	rules_parse(cc, file, text, len);
}

/* Read a whole file; -1 with errno set on failure. */
static int read_file(const char *path, char **text, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int rc = -1, saved;

	if (!f)
		return -1;
	for (;;) {
		size_t got;
		if (n == cap) {
			char *b;
			if (cap > MAX_TEXT) {
				errno = EFBIG;
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			b = realloc(buf, cap);
			if (!b)
				goto out;
			buf = b;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				if (errno == 0)
					errno = EIO;
				goto out;
			}
			break;
		}
	}
	*text = buf;
	*len = n;
	buf = NULL;
	rc = 0;
out:
	saved = errno;
	free(buf);
	fclose(f);
	errno = saved;
	return rc;
}

struct ruleset *rules_compile_files(const char *const *files, int nfiles,
                                    const struct rules_site *site, rules_diag_fn diag, void *ctx,
                                    int *nerrors, int *nwarnings)
{
	struct rules_cc cc;

	if (cc_init(&cc, site) == 0) {
		for (int i = 0; i < nfiles && !cc.oom; i++) {
			char *text = NULL;
			size_t len = 0;
			errno = 0;
			if (read_file(files[i], &text, &len) < 0) {
				int err = errno;
				int file = cc_add_file(&cc, files[i]);
				if (file >= 0)
					rules_cc_diag(&cc, file, 0, 0, 0, "cannot read: %s",
					              strerror(err));
				continue;
			}
			compile_text(&cc, files[i], text, len);
			free(text);
		}
	}
	return cc_finish(&cc, diag, ctx, nerrors, nwarnings);
}

struct ruleset *rules_compile_string(const char *text, const char *name,
                                     const struct rules_site *site, rules_diag_fn diag, void *ctx,
                                     int *nerrors, int *nwarnings)
{
	struct rules_cc cc;

	if (cc_init(&cc, site) == 0)
		compile_text(&cc, name ? name : "<string>", text ? text : "",
		             text ? strlen(text) : 0);
	return cc_finish(&cc, diag, ctx, nerrors, nwarnings);
}

void rules_free(struct ruleset *rs)
{
	if (!rs)
		return;
	for (int i = 0; i < rs->nrules; i++) {
		free(rs->rules[i].name);
		free(rs->rules[i].cond);
		free(rs->rules[i].actions);
	}
	free(rs->rules);
	for (int i = 0; i < rs->nfiles; i++)
		free(rs->files[i]);
	free(rs->files);
	for (int i = 0; i < rs->nstrs; i++)
		free(rs->strs[i]);
	free(rs->strs);
	free(rs->sensor_zone);
	free(rs->index);
	free(rs->entries);
	free(rs);
}

int rules_count(const struct ruleset *rs)
{
	return rs ? rs->nrules : 0;
}

const char *rules_name(const struct ruleset *rs, int rule)
{
	return rs && rule >= 0 && rule < rs->nrules ? rs->rules[rule].name : NULL;
}

void rules_get_stats(const struct ruleset *rs, struct rules_stats *st)
{
	if (rs)
		*st = rs->stats;
	else
		memset(st, 0, sizeof(*st));
}

/* An unknown point value makes `is STATE` false (and so `is not` true); no
 * view at all is a world where nothing is known. */
static int cond_eval(const struct rules_rule *r, int n, const struct rules_view *v)
{
	const struct rules_cond *c = &r->cond[n];
	double x;

	switch (c->op) {
	case COND_AND:
		return cond_eval(r, c->a, v) && cond_eval(r, c->b, v);
	case COND_OR:
		return cond_eval(r, c->a, v) || cond_eval(r, c->b, v);
	case COND_NOT:
		return !cond_eval(r, c->a, v);
	case COND_MODE:
		return v && v->mode && v->mode(v->ctx) == c->mode;
	case COND_SENSOR_IS:
		if (!v || !v->point || v->point(v->ctx, c->sensor, c->point, &x) < 0 || isnan(x))
			return 0;
		return (x != 0) == (c->value != 0);
	}
	return 0;
}

static void emit_one(struct ruleset *rs, const struct rules_action *tpl, int rule, int sensor,
                     double value, rules_action_fn emit, void *ctx)
{
	struct rules_action a = *tpl;

	a.rule = rule;
	a.sensor = sensor;
	a.zone = rs->sensor_zone[sensor];
	a.value = value;
	if (emit)
		emit(ctx, &a);
}

/* Threshold triggers are edges with hysteresis: the entry is active from
 * the crossing until the value re-arms; *fire and *clear report the two
 * edges. The edge is taken whether or not the condition then holds, so a
 * condition that becomes true later does not fire on an old crossing. */
static void eval_threshold(const struct rules_trigger *t, struct rules_entry *e, int had_old,
                           double old, double new, int *fire, int *clear)
{
	int above = t->type == TRIG_ABOVE, active, on, off;

	on = above ? new > t->threshold : new < t->threshold;
	if (t->has_rearm)
		off = above ? new < t->rearm : new > t->rearm;
	else
		off = !on;

	if (!had_old)
		active = 0; /* unknown before: a value past the threshold is an edge */
	else if (!e->seen)
		/* first reading since compile (a reload): already past the
		 * threshold is not a new crossing */
		active = above ? old > t->threshold : old < t->threshold;
	else
		active = e->active;

	if (!active && on) {
		*fire = 1;
		active = 1;
	} else if (active && off) {
		*clear = 1;
		active = 0;
	}
	e->active = (unsigned char)active;
	e->seen = 1;
}

int rules_eval(struct ruleset *rs, int sensor, enum sh_point point, int had_old, double old_value,
               double new_value, int64_t now_ms, const struct rules_view *view,
               rules_action_fn emit, void *ctx)
{
	int fired = 0, b, end;

	(void)now_ms; /* timers (for, after) come with the next language version */
	if (!rs || sensor < 0 || sensor >= rs->nsensors || (unsigned)point >= POINT__COUNT)
		return -EINVAL;
	rs->stats.evals++;
	/* NaN is no reading at all */
	if (isnan(new_value))
		return 0;
	if (had_old && isnan(old_value))
		had_old = 0;

	b = sensor * POINT__COUNT + (int)point;
	end = rs->index[b + 1];
	for (int k = rs->index[b]; k < end; k++) {
		struct rules_entry *e = &rs->entries[k];
		const struct rules_rule *r = &rs->rules[e->rule];
		int fire = 0, clear = 0;

		rs->stats.visited++;
		if (r->trig.type == TRIG_BECOMES) {
			/* boolean points: any non-zero value is the active state */
			int want = r->trig.state->value != 0, nv = new_value != 0,
			    ov = old_value != 0;
			if (nv == want)
				/* a panic press is an event: every press counts */
				fire = !had_old || ov != nv || (point == POINT_PANIC && nv);
			else
				clear = had_old && ov == want && point != POINT_PANIC;
		} else {
			eval_threshold(&r->trig, e, had_old, old_value, new_value, &fire, &clear);
		}

		if (clear) {
			struct rules_action a = {.type = RA_CLEARED, .cls = ALARM__COUNT};
			/* the class of what the rule raises, so that the panel
			 * can tell a fault (clears itself) from the rest */
			for (int i = 0; i < r->nactions && a.cls == ALARM__COUNT; i++)
				if (r->actions[i].type == RA_ALARM)
					a.cls = r->actions[i].cls;
			rs->stats.cleared++;
			emit_one(rs, &a, e->rule, sensor, new_value, emit, ctx);
		}
		if (!fire || (r->cond_root >= 0 && !cond_eval(r, r->cond_root, view)))
			continue;
		rs->stats.fired++;
		fired++;
		for (int i = 0; i < r->nactions; i++)
			emit_one(rs, &r->actions[i], e->rule, sensor, new_value, emit, ctx);
	}
	return fired;
}
