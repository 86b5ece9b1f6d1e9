/*
 * rules.c: compiling rule files into a rule set (the engine that runs it
 * is rules_eval.c).
 *
 * Evaluation is driven by an index built at compile time: each selector is
 * expanded against the site's sensors, and every (rule, sensor) pair is
 * filed under that sensor and the point its trigger watches (a count
 * trigger under every sensor of its kind). A reading then visits only the
 * rules that can react to it, in rule order. Triggers that are not
 * readings (alarm transitions, mode changes, the calendar) get small
 * indexes of their own.
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

/* The message is whole when it is recorded ("FILE:LINE:COL: text"), as the
 * config loader's are, so that one collector (common/diag.h) sorts both.
 * The text is cut at 1023 bytes, the whole at 1279, as they always were. */
void rules_cc_diag(struct rules_cc *cc, int file, int line, int col, int severity, const char *fmt,
                   ...)
{
	struct ruleset *rs = cc->rs;
	const char *name = file >= 0 && rs && file < rs->nfiles ? rs->files[file] : "?";
	char text[1024], msg[1280];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(msg, sizeof(msg), "%s:%d:%d: %s", name, line, col, text);
	else
		snprintf(msg, sizeof(msg), "%s: %s", name, text);
	diag_add(&cc->diags, file, line, col, severity, strdup(msg));
	if (cc->diags.oom)
		cc->oom = 1;
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

/* ---- name tables ---- */

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

int rules_names_find(const struct rules_names *t, const char *name)
{
	if (!t->cap || !name)
		return -1;
	for (uint32_t i = name_hash(name) & (uint32_t)(t->cap - 1);;
	     i = (i + 1) & (uint32_t)(t->cap - 1)) {
		if (!t->keys[i])
			return -1;
		if (strcmp(t->keys[i], name) == 0)
			return t->vals[i];
	}
}

int rules_names_add(struct rules_names *t, const char *name, int val)
{
	uint32_t i;

	/* at most half full, so that probes stay short and always end */
	if ((t->n + 1) * 2 > t->cap) {
		struct rules_names g = {.cap = t->cap ? t->cap * 2 : 64};
		g.keys = calloc((size_t)g.cap, sizeof(*g.keys));
		g.vals = calloc((size_t)g.cap, sizeof(*g.vals));
		if (!g.keys || !g.vals) {
			free(g.keys);
			free(g.vals);
			return -ENOMEM;
		}
		for (int k = 0; k < t->cap; k++)
			if (t->keys[k])
				rules_names_add(&g, t->keys[k], t->vals[k]);
		free(t->keys);
		free(t->vals);
		*t = g;
	}
	for (i = name_hash(name) & (uint32_t)(t->cap - 1); t->keys[i];
	     i = (i + 1) & (uint32_t)(t->cap - 1))
		if (strcmp(t->keys[i], name) == 0)
			return 0; /* the first one stays */
	t->keys[i] = name;
	t->vals[i] = val;
	t->n++;
	return 0;
}

static void names_free(struct rules_names *t)
{
	free(t->keys);
	free(t->vals);
	memset(t, 0, sizeof(*t));
}

/* A NULL-terminated list of the ids of n site items, for sh_suggest(),
 * and the same ids in a table. The strings stay the site's. */
static const char **id_list(const void *items, int n, size_t stride, size_t id_off,
                            struct rules_names *names)
{
	const char **ids = calloc((size_t)n + 1, sizeof(*ids));

	if (!ids)
		return NULL;
	for (int i = 0; i < n; i++) {
		const char *id =
		    *(char *const *)((const char *)items + (size_t)i * stride + id_off);
		ids[i] = id ? id : "";
		if (rules_names_add(names, ids[i], i) < 0) {
			free(ids);
			return NULL;
		}
	}
	return ids;
}

/* The kinds rules may name: vocab (when given), then any kind an item has
 * that vocab lacks, NULL-terminated into *names (the strings stay the
 * site's) and into the table t; each item's kind among them into (*of)[i],
 * -1 when it has none. */
static int kind_table(const char *const *vocab, const void *items, int n, size_t stride,
                      size_t kind_off, struct rules_names *t, const char ***names, int **of)
{
	int nv = 0, k = 0;

	while (vocab && vocab[nv])
		nv++;
	*names = calloc((size_t)nv + (size_t)n + 1, sizeof(**names));
	*of = calloc((size_t)n + 1, sizeof(**of));
	if (!*names || !*of)
		return -ENOMEM;
	for (int i = 0; i < nv; i++) {
		if (rules_names_find(t, vocab[i]) >= 0)
			continue;
		if (rules_names_add(t, vocab[i], k) < 0)
			return -ENOMEM;
		(*names)[k++] = vocab[i];
	}
	for (int i = 0; i < n; i++) {
		const char *kind =
		    *(const char *const *)((const char *)items + (size_t)i * stride + kind_off);
		int x = kind ? rules_names_find(t, kind) : -1;
		if (kind && x < 0) {
			if (rules_names_add(t, kind, k) < 0)
				return -ENOMEM;
			(*names)[x = k++] = kind;
		}
		(*of)[i] = x;
	}
	return 0;
}

static int cc_init(struct rules_cc *cc, const struct rules_site *site)
{
	static const struct rules_site empty;
	const struct rules_site *c = site ? site : &empty;

	memset(cc, 0, sizeof(*cc));
	cc->site = c;
	cc->rs = calloc(1, sizeof(*cc->rs));
	cc->sensor_ids = id_list(c->sensors, c->nsensors, sizeof(*c->sensors),
	                         offsetof(struct rules_site_sensor, id), &cc->sensor_names);
	cc->zone_ids = id_list(c->zones, c->nzones, sizeof(*c->zones),
	                       offsetof(struct rules_site_zone, id), &cc->zone_names);
	cc->contact_ids =
	    id_list(c->contacts, c->ncontacts, sizeof(*c->contacts), 0, &cc->contact_names);
	cc->output_ids = id_list(c->outputs, c->noutputs, sizeof(*c->outputs),
	                         offsetof(struct rules_site_output, id), &cc->output_names);
	if (!cc->rs || !cc->sensor_ids || !cc->zone_ids || !cc->contact_ids || !cc->output_ids ||
	    kind_table(c->zone_kinds, c->zones, c->nzones, sizeof(*c->zones),
	               offsetof(struct rules_site_zone, kind), &cc->zone_kind_names,
	               &cc->zone_kinds, &cc->zone_kind) < 0 ||
	    kind_table(c->output_kinds, c->outputs, c->noutputs, sizeof(*c->outputs),
	               offsetof(struct rules_site_output, kind), &cc->output_kind_names,
	               &cc->output_kinds, &cc->output_kind) < 0) {
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

/* ---- selectors ---- */

/* Sensors by kind and by zone, so that expanding a selector costs what it
 * selects, not the size of the site. */
struct site_lists {
	int *all;
	int *kind_first, *by_kind; /* sensors of kind k: by_kind[kind_first[k] .. [k + 1]) */
	int *zone_first, *by_zone;
};

static void lists_free(struct site_lists *l)
{
	free(l->all);
	free(l->kind_first);
	free(l->by_kind);
	free(l->zone_first);
	free(l->by_zone);
}

/* Counting sort of sensors 0..ns-1 by key (keys outside [0, nkeys) left out). */
static int bucket(const struct rules_site *site, int nkeys, int by_zone, int **first, int **items)
{
	int ns = site->nsensors, *fill;

	*first = calloc((size_t)nkeys + 1, sizeof(int));
	*items = calloc((size_t)ns + 1, sizeof(int));
	fill = calloc((size_t)nkeys + 1, sizeof(int));
	if (!*first || !*items || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (int s = 0; s < ns; s++) {
		int k = by_zone ? site->sensors[s].zone : (int)site->sensors[s].kind;
		if (k >= 0 && k < nkeys)
			(*first)[k + 1]++;
	}
	for (int k = 0; k < nkeys; k++)
		(*first)[k + 1] += (*first)[k];
	memcpy(fill, *first, sizeof(int) * (size_t)nkeys);
	for (int s = 0; s < ns; s++) {
		int k = by_zone ? site->sensors[s].zone : (int)site->sensors[s].kind;
		if (k >= 0 && k < nkeys)
			(*items)[fill[k]++] = s;
	}
	free(fill);
	return 0;
}

static int lists_init(struct site_lists *l, const struct rules_site *site)
{
	memset(l, 0, sizeof(*l));
	l->all = calloc((size_t)site->nsensors + 1, sizeof(int));
	if (!l->all)
		return -ENOMEM;
	for (int s = 0; s < site->nsensors; s++)
		l->all[s] = s;
	if (bucket(site, KIND__COUNT, 0, &l->kind_first, &l->by_kind) < 0 ||
	    bucket(site, site->nzones, 1, &l->zone_first, &l->by_zone) < 0)
		return -ENOMEM;
	return 0;
}

/* The sensors a selector may match: a superset, in index order; check each
 * with sel_match(). */
static const int *sel_candidates(const struct site_lists *l, const struct rules_site *site,
                                 const struct rules_sel *sel, int *n)
{
	switch (sel->type) {
	case SEL_KIND:
		if (sel->kind < 0 || sel->kind >= KIND__COUNT)
			break;
		*n = l->kind_first[sel->kind + 1] - l->kind_first[sel->kind];
		return l->by_kind + l->kind_first[sel->kind];
	case SEL_SENSOR:
		if (sel->sensor < 0 || sel->sensor >= site->nsensors)
			break;
		*n = 1;
		return l->all + sel->sensor;
	case SEL_ZONE:
		if (sel->zone_kind >= 0) {
			*n = site->nsensors;
			return l->all;
		}
		if (sel->zone < 0 || sel->zone >= site->nzones)
			break;
		*n = l->zone_first[sel->zone + 1] - l->zone_first[sel->zone];
		return l->by_zone + l->zone_first[sel->zone];
	case SEL_ANY:
		*n = site->nsensors;
		return l->all;
	}
	*n = 0;
	return l->all;
}

/* Zone z is in the selector's zone (or of its zone kind); any zone when
 * the selector names none. */
static int zone_match(const struct rules_cc *cc, const struct rules_sel *sel, int z)
{
	if (sel->zone_kind >= 0)
		return z >= 0 && z < cc->site->nzones && cc->zone_kind[z] == sel->zone_kind;
	return sel->zone < 0 || z == sel->zone;
}

static int sel_match(const struct rules_cc *cc, const struct rules_sel *sel, int s)
{
	const struct rules_site_sensor *cs = &cc->site->sensors[s];

	switch (sel->type) {
	case SEL_KIND:
		return (int)cs->kind == sel->kind && zone_match(cc, sel, cs->zone);
	case SEL_SENSOR:
		return s == sel->sensor;
	case SEL_ZONE:
		return zone_match(cc, sel, cs->zone);
	case SEL_ANY:
		return 1;
	}
	return 0;
}

static int trig_has_sensors(const struct rules_trigger *t)
{
	return t->type != TRIG_EVERY && t->type != TRIG_ALARM && t->type != TRIG_MODE &&
	       t->type != TRIG_NEIGHBOUR;
}

/* The point a trigger watches on a sensor of kind k; POINT__COUNT: none. */
static enum sh_point trig_point(const struct rules_trigger *t, enum sh_kind k)
{
	if ((unsigned)k >= KIND__COUNT || !trig_has_sensors(t))
		return POINT__COUNT;
	if (t->type == TRIG_BECOMES || t->type == TRIG_HOLD || t->type == TRIG_COUNT)
		return t->state->point != POINT__COUNT ? t->state->point : sh_kind_primary_point(k);
	return t->point != POINT__COUNT ? t->point : sh_kind_numeric_point(k);
}

static const char *zone_id(const struct rules_site *site, int z)
{
	return z >= 0 && z < site->nzones && site->zones[z].id ? site->zones[z].id : "?";
}

/* ---- checks that need the whole rule set ---- */

/* A count that needs more sensors than a zone (or the site) has. */
static void check_count(struct rules_cc *cc, const struct rules_rule *rule, int watched,
                        const int *per_zone)
{
	const struct rules_site *site = cc->site;
	const struct rules_trigger *t = &rule->trig;
	const char *kind = sh_kind_name((enum sh_kind)t->sel.kind);
	int most = 0;

	if (!t->per_zone) {
		if (watched < t->count)
			rules_cc_diag(cc, rule->file, t->sel.line, t->sel.col, 1,
			              "count needs %d %s sensors but the site has %d; rule \"%s\" "
			              "can never fire",
			              t->count, kind, watched, rule->name);
		return;
	}
	for (int z = 0; z < site->nzones; z++)
		most = per_zone[z] > most ? per_zone[z] : most;
	if (most < t->count)
		rules_cc_diag(cc, rule->file, t->sel.line, t->sel.col, 1,
		              "count needs %d %s sensors in one zone but no zone has more than "
		              "%d; rule \"%s\" can never fire",
		              t->count, kind, most, rule->name);
}

static int zone_kind_used(const struct rules_cc *cc, int k)
{
	for (int z = 0; z < cc->site->nzones; z++)
		if (cc->zone_kind[z] == k)
			return 1;
	return 0;
}

/* Warn about rules whose selector matches nothing that can fire them: most
 * often a shipped model rule for a kind this site does not have. */
static void check_reach(struct rules_cc *cc, const struct site_lists *l)
{
	const struct rules_site *site = cc->site;
	struct ruleset *rs = cc->rs;
	int *per_zone = calloc((size_t)site->nzones + 1, sizeof(int));

	if (!per_zone) {
		cc->oom = 1;
		return;
	}
	for (int r = 0; r < rs->nrules; r++) {
		const struct rules_rule *rule = &rs->rules[r];
		const struct rules_sel *sel = &rule->trig.sel;
		const int *cand;
		int matched = 0, watched = 0, n;
		char why[256];

		/* The shipped model has neighbour rules: a house without a
		 * group compiles with a warning, like one without a CO
		 * detector. */
		if (rule->trig_ok && rule->trig.type == TRIG_NEIGHBOUR && site->nneighbours <= 0)
			rules_cc_diag(cc, rule->file, rule->line, rule->col, 1,
			              "the site lists no neighbours; rule \"%s\" can never fire",
			              rule->name);
		if (!rule->trig_ok || !trig_has_sensors(&rule->trig))
			continue;
		memset(per_zone, 0, sizeof(int) * (size_t)site->nzones);
		cand = sel_candidates(l, site, sel, &n);
		for (int i = 0; i < n; i++) {
			int s = cand[i], z = site->sensors[s].zone;
			if (!sel_match(cc, sel, s))
				continue;
			matched++;
			if (trig_point(&rule->trig, site->sensors[s].kind) == POINT__COUNT)
				continue;
			watched++;
			if (z >= 0 && z < site->nzones)
				per_zone[z]++;
		}
		if (watched) {
			if (rule->trig.type == TRIG_COUNT)
				check_count(cc, rule, watched, per_zone);
			continue;
		}
		if (matched && rule->trig.state)
			snprintf(why, sizeof(why), "no selected sensor has a \"%s\" state",
			         rule->trig.state->name);
		else if (sel->zone_kind >= 0 && !zone_kind_used(cc, sel->zone_kind))
			snprintf(why, sizeof(why), "the site has no zone of kind \"%s\"",
			         cc->zone_kinds[sel->zone_kind]);
		else if (sel->type == SEL_KIND && sel->zone_kind >= 0)
			snprintf(why, sizeof(why), "no %s sensor in a zone of kind \"%s\"",
			         sh_kind_name((enum sh_kind)sel->kind),
			         cc->zone_kinds[sel->zone_kind]);
		else if (sel->type == SEL_ZONE && sel->zone_kind >= 0)
			snprintf(why, sizeof(why), "no zone of kind \"%s\" has sensors",
			         cc->zone_kinds[sel->zone_kind]);
		else if (sel->type == SEL_KIND && sel->zone >= 0)
			snprintf(why, sizeof(why), "no %s sensor in zone \"%s\"",
			         sh_kind_name((enum sh_kind)sel->kind), zone_id(site, sel->zone));
		else if (sel->type == SEL_KIND)
			snprintf(why, sizeof(why), "the site has no %s sensor",
			         sh_kind_name((enum sh_kind)sel->kind));
		else if (sel->type == SEL_ZONE)
			snprintf(why, sizeof(why), "zone \"%s\" has no sensors",
			         zone_id(site, sel->zone));
		else
			snprintf(why, sizeof(why), "the site has no sensors");
		rules_cc_diag(cc, rule->file, sel->line, sel->col, 1,
		              "%s; rule \"%s\" can never fire", why, rule->name);
	}
	free(per_zone);
}

/* `cancel "name"` may name a rule of any file, defined before or after. */
static void resolve_cancels(struct rules_cc *cc)
{
	struct ruleset *rs = cc->rs;
	const char **names = NULL;

	for (int i = 0; i < cc->ncancels; i++) {
		struct rules_cancel_ref *c = &cc->cancels[i];
		int target = rules_names_find(&cc->rule_names, c->name);
		char h[160] = "";

		if (target >= 0) {
			rs->rules[c->rule].ext[c->action].cancel = target;
			if (!rs->rules[target].after)
				rules_cc_diag(cc, c->file, c->line, c->col, 1,
				              "rule \"%s\" has no delay (\"after\"): cancelling it "
				              "does nothing",
				              c->name);
			continue;
		}
		if (!names) {
			names = calloc((size_t)rs->nrules + 1, sizeof(*names));
			if (!names) {
				cc->oom = 1;
				return;
			}
			for (int r = 0; r < rs->nrules; r++)
				names[r] = rs->rules[r].name;
		}
		const char *s = sh_suggest(c->name, names);
		if (s)
			snprintf(h, sizeof(h), "; did you mean \"%s\"?", s);
		rules_cc_diag(cc, c->file, c->line, c->col, 0, "unknown rule \"%s\"%s", c->name, h);
	}
	free(names);
}

/* ---- the index ---- */

static char *dup_or(const char *s, const char *fallback)
{
	return strdup(s ? s : fallback ? fallback : "");
}

/* What messages and zone conditions need of the site, copied: the rule set
 * must not keep the caller's site. */
static int copy_site(struct rules_cc *cc, const struct site_lists *l)
{
	const struct rules_site *site = cc->site;
	struct ruleset *rs = cc->rs;
	int ns = site->nsensors, nz = site->nzones;

	rs->nsensors = ns;
	rs->nzones = nz;
	rs->sensor_zone = calloc((size_t)ns + 1, sizeof(int));
	rs->sensor_kind = calloc((size_t)ns + 1, 1);
	rs->sensor_id = calloc((size_t)ns + 1, sizeof(char *));
	rs->sensor_label = calloc((size_t)ns + 1, sizeof(char *));
	rs->zone_id = calloc((size_t)nz + 1, sizeof(char *));
	rs->zone_label = calloc((size_t)nz + 1, sizeof(char *));
	rs->zone_first = calloc((size_t)nz + 1, sizeof(int));
	rs->zone_sensors = calloc((size_t)ns + 1, sizeof(int));
	rs->zone_kind = calloc((size_t)nz + 1, sizeof(int));
	if (!rs->zone_kind || !rs->sensor_zone || !rs->sensor_kind || !rs->sensor_id ||
	    !rs->sensor_label || !rs->zone_id || !rs->zone_label || !rs->zone_first ||
	    !rs->zone_sensors)
		return -ENOMEM;
	for (int s = 0; s < ns; s++) {
		const struct rules_site_sensor *cs = &site->sensors[s];
		rs->sensor_zone[s] = cs->zone;
		rs->sensor_kind[s] = (unsigned char)cs->kind;
		rs->sensor_id[s] = dup_or(cs->id, "?");
		rs->sensor_label[s] = dup_or(cs->label, cs->id);
		if (!rs->sensor_id[s] || !rs->sensor_label[s])
			return -ENOMEM;
	}
	for (int z = 0; z < nz; z++) {
		rs->zone_id[z] = dup_or(site->zones[z].id, "?");
		rs->zone_label[z] = dup_or(site->zones[z].label, site->zones[z].id);
		if (!rs->zone_id[z] || !rs->zone_label[z])
			return -ENOMEM;
	}
	memcpy(rs->zone_kind, cc->zone_kind, sizeof(int) * (size_t)nz);
	if (site->nneighbours > 0) {
		int nn = site->nneighbours;
		rs->nb_id = calloc((size_t)nn, sizeof(char *));
		rs->nb_addr = calloc((size_t)nn, sizeof(char *));
		if (!rs->nb_id || !rs->nb_addr)
			return -ENOMEM;
		rs->nneighbours = nn;
		for (int i = 0; i < nn; i++) {
			rs->nb_id[i] = dup_or(site->neighbours[i], "?");
			if (!rs->nb_id[i])
				return -ENOMEM;
		}
	}
	memcpy(rs->zone_first, l->zone_first, sizeof(int) * ((size_t)nz + 1));
	memcpy(rs->zone_sensors, l->by_zone, sizeof(int) * (size_t)ns);
	return 0;
}

/* Rules filed by a small key (alarm class and event, mode): CSR arrays. */
static int index_by(struct ruleset *rs, enum rules_trig_type type, int nkeys, int **first,
                    int **items)
{
	int *fill;

	*first = calloc((size_t)nkeys + 1, sizeof(int));
	*items = calloc((size_t)rs->nrules + 1, sizeof(int));
	fill = calloc((size_t)nkeys + 1, sizeof(int));
	if (!*first || !*items || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (int pass = 0; pass < 2; pass++) {
		for (int r = 0; r < rs->nrules; r++) {
			const struct rules_trigger *t = &rs->rules[r].trig;
			int k;
			if (t->type != type)
				continue;
			k = type == TRIG_MODE ? (int)t->mode
			                      : (int)t->cls * RAE__COUNT + (int)t->ev;
			if (pass == 0)
				(*first)[k + 1]++;
			else
				(*items)[fill[k]++] = r;
		}
		if (pass == 0) {
			for (int k = 0; k < nkeys; k++)
				(*first)[k + 1] += (*first)[k];
			memcpy(fill, *first, sizeof(int) * (size_t)nkeys);
		}
	}
	free(fill);
	return 0;
}

/* Give one entry its run-time state in the side array of its trigger. */
static void entry_aux(struct ruleset *rs, struct rules_entry *e, int r, int s, enum sh_point p)
{
	struct rules_rule *rule = &rs->rules[r];

	switch (rule->trig.type) {
	case TRIG_HOLD:
		e->aux = rs->nholds;
		rs->holds[rs->nholds++] = (struct rules_hold){.rule = r, .sensor = s, .point = p};
		break;
	case TRIG_COUNT:
		if (rule->nslot++ == 0)
			rule->slot0 = rs->nslots;
		e->aux = rs->nslots;
		rs->slots[rs->nslots++] = (struct rules_slot){
		    .rule = r,
		    .sensor = s,
		    .group = rule->aux + (rule->trig.per_zone ? rs->sensor_zone[s] : 0)};
		break;
	case TRIG_RISES:
		e->aux = rs->nrises;
		rs->rises[rs->nrises] = (struct rules_rise){.rule = r, .sensor = s};
		rs->nrises++;
		break;
	default:
		e->aux = -1;
		break;
	}
}

static int build_index(struct rules_cc *cc, const struct site_lists *l)
{
	const struct rules_site *site = cc->site;
	struct ruleset *rs = cc->rs;
	int ns = site->nsensors, nb = ns * POINT__COUNT, *fill = NULL, rc = -ENOMEM;
	int nholds = 0, nslots = 0, nrises = 0;

	if (copy_site(cc, l) < 0)
		goto out;
	rs->index = calloc((size_t)nb + 1, sizeof(int));
	fill = calloc((size_t)nb + 1, sizeof(int));
	if (!rs->index || !fill)
		goto out;

	/* Count per bucket, then fill in rule order: rules outermost, so that
	 * each bucket lists its rules in source order, and the side state of
	 * one rule is contiguous. */
	for (int pass = 0; pass < 2; pass++) {
		for (int r = 0; r < rs->nrules; r++) {
			struct rules_rule *rule = &rs->rules[r];
			const int *cand;
			int n;
			if (!rule->trig_ok || !trig_has_sensors(&rule->trig))
				continue;
			cand = sel_candidates(l, site, &rule->trig.sel, &n);
			for (int i = 0; i < n; i++) {
				int s = cand[i], b;
				enum sh_point p;
				if (!sel_match(cc, &rule->trig.sel, s))
					continue;
				p = trig_point(&rule->trig, site->sensors[s].kind);
				if (p == POINT__COUNT)
					continue;
				/* a count per zone needs the sensor's zone */
				if (rule->trig.type == TRIG_COUNT && rule->trig.per_zone &&
				    (site->sensors[s].zone < 0 ||
				     site->sensors[s].zone >= site->nzones))
					continue;
				b = s * POINT__COUNT + (int)p;
				if (pass == 0) {
					rs->index[b + 1]++;
					nholds += rule->trig.type == TRIG_HOLD;
					nslots += rule->trig.type == TRIG_COUNT;
					nrises += rule->trig.type == TRIG_RISES;
				} else {
					struct rules_entry *e = &rs->entries[fill[b]++];
					e->rule = r;
					entry_aux(rs, e, r, s, p);
				}
			}
		}
		if (pass == 0) {
			for (int b = 0; b < nb; b++)
				rs->index[b + 1] += rs->index[b];
			rs->nentries = rs->index[nb];
			rs->entries = calloc((size_t)rs->nentries + 1, sizeof(*rs->entries));
			rs->holds = calloc((size_t)nholds + 1, sizeof(*rs->holds));
			rs->slots = calloc((size_t)nslots + 1, sizeof(*rs->slots));
			rs->rises = calloc((size_t)nrises + 1, sizeof(*rs->rises));
			if (!rs->entries || !rs->holds || !rs->slots || !rs->rises)
				goto out;
			memcpy(fill, rs->index, sizeof(int) * (size_t)nb);
			/* groups of counts: one per zone, or one for the site */
			for (int r = 0; r < rs->nrules; r++) {
				struct rules_rule *rule = &rs->rules[r];
				if (rule->trig.type != TRIG_COUNT)
					continue;
				rule->aux = rs->ngroups;
				rule->naux = rule->trig.per_zone ? site->nzones : 1;
				rs->ngroups += rule->naux;
			}
			rs->groups = calloc((size_t)rs->ngroups + 1, sizeof(*rs->groups));
			if (!rs->groups)
				goto out;
		}
	}

	if (index_by(rs, TRIG_ALARM, ALARM__COUNT * RAE__COUNT, &rs->alarm_index,
	             &rs->alarm_rules) < 0 ||
	    index_by(rs, TRIG_MODE, MODE__COUNT, &rs->mode_index, &rs->mode_rules) < 0 ||
	    index_by(rs, TRIG_NEIGHBOUR, ALARM__COUNT * RAE__COUNT, &rs->nb_index, &rs->nb_rules) <
	        0)
		goto out;
	rs->cal_rules = calloc((size_t)rs->nrules + 1, sizeof(int));
	rs->cal_next = calloc((size_t)rs->nrules + 1, sizeof(int64_t));
	if (!rs->cal_rules || !rs->cal_next)
		goto out;
	for (int r = 0; r < rs->nrules; r++) {
		struct rules_rule *rule = &rs->rules[r];
		if (rule->trig.type == TRIG_EVERY) {
			rule->aux = rs->ncal;
			rs->cal_rules[rs->ncal++] = r;
		}
		/* the class a cleared notice names */
		rule->clear_cls = ALARM__COUNT;
		for (int i = 0; i < rule->nactions && rule->clear_cls == ALARM__COUNT; i++)
			if (rule->actions[i].type == RA_ALARM && rule->ext[i].cancel == -1)
				rule->clear_cls = rule->actions[i].cls;
	}
	rc = 0;
out:
	free(fill);
	if (rc < 0)
		cc->oom = 1;
	return rc;
}

/* Resolve, check, index, then report every diagnostic in file and position
 * order, then hand over the rule set, or free it when there was an error. */
static struct ruleset *cc_finish(struct rules_cc *cc, rules_diag_fn diag, void *ctx, int *nerrors,
                                 int *nwarnings)
{
	struct ruleset *rs = cc->rs;
	struct site_lists lists;

	if (lists_init(&lists, cc->site) < 0)
		cc->oom = 1;
	if (!cc->oom)
		resolve_cancels(cc);
	if (!cc->oom)
		check_reach(cc, &lists);
	if (!cc->oom && cc->diags.nerrors == 0)
		build_index(cc, &lists);
	lists_free(&lists);

	diag_flush(&cc->diags, diag, ctx);
	if (cc->oom) {
		cc->diags.nerrors++;
		if (diag)
			diag(ctx, 0, "rules: out of memory");
	}
	free(cc->sensor_ids);
	free(cc->zone_ids);
	free(cc->contact_ids);
	free(cc->output_ids);
	free(cc->zone_kinds);
	free(cc->output_kinds);
	free(cc->zone_kind);
	free(cc->output_kind);
	names_free(&cc->zone_kind_names);
	names_free(&cc->output_kind_names);
	names_free(&cc->sensor_names);
	names_free(&cc->zone_names);
	names_free(&cc->contact_names);
	names_free(&cc->output_names);
	names_free(&cc->rule_names);
	for (int i = 0; i < cc->ncancels; i++)
		free(cc->cancels[i].name);
	free(cc->cancels);
	if (nerrors)
		*nerrors = cc->diags.nerrors;
	if (nwarnings)
		*nwarnings = cc->diags.nwarnings;
	if (cc->diags.nerrors) {
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
		free(rs->rules[i].ext);
	}
	free(rs->rules);
	for (int i = 0; i < rs->nfiles; i++)
		free(rs->files[i]);
	free(rs->files);
	for (int i = 0; i < rs->nstrs; i++)
		free(rs->strs[i]);
	free(rs->strs);
	for (int i = 0; rs->sensor_id && i < rs->nsensors; i++) {
		free(rs->sensor_id[i]);
		free(rs->sensor_label[i]);
	}
	for (int i = 0; rs->zone_id && i < rs->nzones; i++) {
		free(rs->zone_id[i]);
		free(rs->zone_label[i]);
	}
	free(rs->sensor_id);
	free(rs->sensor_label);
	free(rs->zone_id);
	free(rs->zone_label);
	free(rs->zone_first);
	free(rs->zone_sensors);
	free(rs->sensor_zone);
	free(rs->zone_kind);
	free(rs->sensor_kind);
	free(rs->index);
	free(rs->entries);
	free(rs->alarm_index);
	free(rs->alarm_rules);
	free(rs->mode_index);
	free(rs->mode_rules);
	free(rs->nb_index);
	free(rs->nb_rules);
	for (int i = 0; i < rs->nneighbours; i++) {
		free(rs->nb_id ? rs->nb_id[i] : NULL);
		free(rs->nb_addr ? rs->nb_addr[i] : NULL);
	}
	free(rs->nb_id);
	free(rs->nb_addr);
	free(rs->cal_rules);
	free(rs->cal_next);
	free(rs->holds);
	free(rs->slots);
	free(rs->groups);
	free(rs->rises);
	rules_state_free(rs);
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
