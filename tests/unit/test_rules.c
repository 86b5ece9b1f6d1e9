/*
 * test_rules.c: the rule language: diagnostics, semantics of triggers and
 * conditions, the index, the shipped model and every example of
 * rules/README.md. Run from the repository root.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "gateway/config.h"
#include "rules/rules.h"
#include "rules/rules_int.h" /* only to look at the timer heap */
#include "rules/rules_lex.h"

/* The test site: a boarding house like deploy/examples/nha-tro.json.
 * rules/README.md documents it; keep the two in step. */
enum {
	Z_HALL,
	Z_KITCHEN,
	Z_PARKING,
	Z_101,
	Z_102,
	Z_103,
	Z_104,
	Z_201,
	Z_202,
	Z_203,
	Z_204,
	Z_STAIRS,
	NZONES
};

enum {
	S_SMOKE_101,
	S_SMOKE_102,
	S_SMOKE_103,
	S_SMOKE_104,
	S_SMOKE_201,
	S_SMOKE_202,
	S_SMOKE_203,
	S_SMOKE_204,
	S_HEAT_KITCHEN,
	S_GAS_KITCHEN,
	S_DOOR_MAIN,
	S_PANIC_HALL,
	S_PANIC_STAIRS,
	NSENSORS
};

enum { C_MILITIA, C_OWNER, NCONTACTS };

enum { O_SIREN_HALL, O_VALVE_GAS, NOUTPUTS };

/* The site as the rule compiler sees it (struct rules_site): no daemon
 * config is involved. */
static const struct rules_site_zone zones[NZONES] = {
    {.id = "hall", .label = "Sảnh tầng trệt", .kind = "corridor"},
    {.id = "kitchen", .label = "Bếp chung", .kind = "kitchen"},
    {.id = "parking", .label = "Nhà xe", .kind = "parking"},
    {.id = "room-101", .label = "Phòng 101", .kind = "room"},
    {.id = "room-102", .label = "Phòng 102", .kind = "room"},
    {.id = "room-103", .label = "Phòng 103", .kind = "room"},
    {.id = "room-104", .label = "Phòng 104", .kind = "room"},
    {.id = "room-201", .label = "Phòng 201", .kind = "room"},
    {.id = "room-202", .label = "Phòng 202", .kind = "room"},
    {.id = "room-203", .label = "Phòng 203", .kind = "room"},
    {.id = "room-204", .label = "Phòng 204", .kind = "room"},
    {.id = "stairs", .label = "Cầu thang", .kind = "stairs"},
};

static const struct rules_site_sensor sensors[NSENSORS] = {
    {.id = "smoke-101", .label = "Báo khói phòng 101", .kind = KIND_SMOKE, .zone = Z_101},
    {.id = "smoke-102", .kind = KIND_SMOKE, .zone = Z_102},
    {.id = "smoke-103", .kind = KIND_SMOKE, .zone = Z_103},
    {.id = "smoke-104", .kind = KIND_SMOKE, .zone = Z_104},
    {.id = "smoke-201", .kind = KIND_SMOKE, .zone = Z_201},
    {.id = "smoke-202", .kind = KIND_SMOKE, .zone = Z_202},
    {.id = "smoke-203", .kind = KIND_SMOKE, .zone = Z_203},
    {.id = "smoke-204", .kind = KIND_SMOKE, .zone = Z_204},
    {.id = "heat-kitchen", .kind = KIND_HEAT, .zone = Z_KITCHEN},
    {.id = "gas-kitchen", .kind = KIND_GAS, .zone = Z_KITCHEN},
    {.id = "door-main", .kind = KIND_DOOR, .zone = Z_HALL},
    {.id = "panic-hall", .kind = KIND_PANIC, .zone = Z_HALL},
    {.id = "panic-stairs", .kind = KIND_PANIC, .zone = Z_STAIRS},
};

static const char *const contacts[NCONTACTS] = {"militia", "owner"};

static const struct rules_site_output outputs[NOUTPUTS] = {
    {.id = "siren-hall", .kind = "siren", .zone = Z_HALL},
    {.id = "valve-gas", .kind = "valve", .zone = Z_KITCHEN},
};

/* What the config accepts (gateway/config.c): the site has no zone of
 * kind exit and no relay, which some tests rely on. */
static const char *const zone_kinds[] = {"room", "kitchen", "corridor", "stairs",
                                         "exit", "parking", "shop",     NULL};
static const char *const output_kinds[] = {"siren", "strobe", "relay", "valve", NULL};

/* The neighbour group (to lien gia): two other houses. */
static const char *const neighbours[] = {"nt-site-2", "nt-site-3"};

static const struct rules_site site = {
    .neighbours = neighbours,
    .nneighbours = 2,
    .outputs = outputs,
    .noutputs = NOUTPUTS,
    .zones = zones,
    .nzones = NZONES,
    .sensors = sensors,
    .nsensors = NSENSORS,
    .contacts = contacts,
    .ncontacts = NCONTACTS,
    .zone_kinds = zone_kinds,
    .output_kinds = output_kinds,
};

/* Diagnostics and actions, collected for assertions. */
#define MAXD 32
#define MAXA 32

struct diags {
	int n;
	int severity[MAXD];
	char msg[MAXD][512];
};

static void on_diag(void *ctx, int severity, const char *msg)
{
	struct diags *d = ctx;

	if (d->n < MAXD) {
		d->severity[d->n] = severity;
		snprintf(d->msg[d->n], sizeof(d->msg[0]), "%s", msg);
	}
	d->n++;
}

static void print_diags(const struct diags *d)
{
	for (int i = 0; i < d->n && i < MAXD; i++)
		fprintf(stderr, "  [%s] %s\n", d->severity[i] ? "warning" : "error", d->msg[i]);
}

struct actions {
	int n;
	struct rules_action a[MAXA];
};

static void on_action(void *ctx, const struct rules_action *a)
{
	struct actions *acts = ctx;

	if (acts->n < MAXA)
		acts->a[acts->n] = *a;
	acts->n++;
}

/* The world for conditions: a mode, known/unknown point values, the
 * panel's alarm flags per class and zone, and the local wall clock. */
struct world {
	enum sh_mode mode;
	int known[NSENSORS][POINT__COUNT];
	double value[NSENSORS][POINT__COUNT];
	unsigned alarm[ALARM__COUNT][NZONES];
	int64_t local; /* local ms since the epoch; 0: no clock */
};

static int world_point(void *ctx, int sensor, enum sh_point p, double *value)
{
	struct world *w = ctx;

	if (sensor < 0 || sensor >= NSENSORS || !w->known[sensor][p])
		return -1;
	*value = w->value[sensor][p];
	return 0;
}

static enum sh_mode world_mode(void *ctx)
{
	return ((struct world *)ctx)->mode;
}

static unsigned world_alarm(void *ctx, enum sh_alarm_class cls, int zone)
{
	struct world *w = ctx;
	unsigned f = 0;

	if (zone >= 0)
		return w->alarm[cls][zone];
	for (int z = 0; z < NZONES; z++)
		f |= w->alarm[cls][z];
	return f;
}

static int64_t world_local(void *ctx)
{
	return ((struct world *)ctx)->local;
}

static void world_set(struct world *w, int sensor, enum sh_point p, double v)
{
	w->known[sensor][p] = 1;
	w->value[sensor][p] = v;
}

static struct rules_view world_view(struct world *w)
{
	return (struct rules_view){.ctx = w,
	                           .point = world_point,
	                           .mode = world_mode,
	                           .alarm = world_alarm,
	                           .local_ms = w->local ? world_local : NULL};
}

/* Local ms of a calendar date and time (the site's wall clock). */
static int64_t local_at(int y, int mon, int d, int h, int min)
{
	struct tm tm = {
	    .tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = d, .tm_hour = h, .tm_min = min};

	return (int64_t)timegm(&tm) * 1000;
}

/* Compile text that must be valid; fails the test with the messages if not. */
static struct ruleset *compile_ok(const char *text, struct diags *d)
{
	int nerr = -1, nwarn = -1;
	struct ruleset *rs =
	    rules_compile_string(text, "t.rules", &site, on_diag, d, &nerr, &nwarn);

	if (!rs || nerr != 0)
		print_diags(d);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	return rs;
}

/* Compile text that must fail; returns the error count. */
static int compile_bad(const char *text, struct diags *d)
{
	int nerr = -1, nwarn = -1;
	struct ruleset *rs =
	    rules_compile_string(text, "t.rules", &site, on_diag, d, &nerr, &nwarn);

	if (rs)
		print_diags(d);
	assert_null(rs);
	assert_true(nerr > 0);
	return nerr;
}

static void assert_diag(const struct diags *d, int i, const char *msg)
{
	if (i >= d->n || strcmp(d->msg[i], msg) != 0) {
		fprintf(stderr, "want diag %d: %s\ngot:\n", i, msg);
		print_diags(d);
	}
	assert_true(i < d->n);
	assert_string_equal(d->msg[i], msg);
}

static void assert_ndiags(const struct diags *d, int n)
{
	if (d->n != n) {
		fprintf(stderr, "want %d diagnostics, got:\n", n);
		print_diags(d);
	}
	assert_int_equal(d->n, n);
}

/* Feed one change and collect the actions. */
static int feed(struct ruleset *rs, int sensor, enum sh_point p, int had_old, double old,
                double new, struct world *w, struct actions *acts)
{
	struct rules_view view;

	memset(acts, 0, sizeof(*acts));
	if (w)
		view = world_view(w);
	return rules_eval(rs, sensor, p, had_old, old, new, 0, w ? &view : NULL, on_action, acts);
}

/* The same on the virtual monotonic clock: at now_ms. The world (which
 * must not be NULL) learns the new value too. */
static int feed_at(struct ruleset *rs, int64_t now, int sensor, enum sh_point p, double new,
                   struct world *w, struct actions *acts)
{
	struct rules_view view = world_view(w);
	int had_old = w->known[sensor][p];
	double old = w->value[sensor][p];

	memset(acts, 0, sizeof(*acts));
	world_set(w, sensor, p, new);
	return rules_eval(rs, sensor, p, had_old, old, new, now, &view, on_action, acts);
}

static int tick_at(struct ruleset *rs, int64_t now, struct world *w, struct actions *acts)
{
	struct rules_view view = world_view(w);

	memset(acts, 0, sizeof(*acts));
	return rules_tick(rs, now, &view, on_action, acts);
}

static int alarm_at(struct ruleset *rs, int64_t now, enum sh_alarm_class cls, int zone, int sensor,
                    int64_t id, enum rules_alarm_event ev, struct world *w, struct actions *acts)
{
	struct rules_view view = world_view(w);

	memset(acts, 0, sizeof(*acts));
	return rules_eval_alarm(rs, cls, zone, sensor, id, ev, now, &view, on_action, acts);
}

static int mode_at(struct ruleset *rs, int64_t now, enum sh_mode mode, struct world *w,
                   struct actions *acts)
{
	struct rules_view view = world_view(w);
	enum sh_mode old = w->mode;

	memset(acts, 0, sizeof(*acts));
	w->mode = mode;
	return rules_eval_mode(rs, old, mode, now, &view, on_action, acts);
}

static int64_t deadline(struct ruleset *rs, int64_t now, struct world *w)
{
	struct rules_view view = world_view(w);

	return rules_next_deadline(rs, now, &view);
}

#define SEC 1000LL
#define MIN (60 * SEC)
#define HOUR (60 * MIN)

/* ---- the shipped model ----
 * What the model does is tested by its scenarios (rules/model/tests, run by
 * tests/run.sh with safehoused --test against the demo house); here: that
 * it compiles clean against the demo house, every file of it. */

static void quiet_config(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "config %s: %s\n", severity ? "warning" : "error", msg);
}

static void test_shipped_model_compiles_clean_against_the_demo_house(void **state)
{
	struct diags d = {0};
	int nerr = -1, nwarn = -1, cerr = -1;
	struct config *cfg = config_load("deploy/examples/nha-tro.json", quiet_config, NULL, &cerr);
	struct rules_site *demo;
	struct ruleset *rs;
	glob_t g;

	(void)state;
	assert_non_null(cfg);
	demo = config_rules_site(cfg);
	assert_non_null(demo);
	/* every model file, including ones added after this test */
	assert_int_equal(glob("rules/model/*.rules", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 8);
	rs = rules_compile_files((const char *const *)g.gl_pathv, (int)g.gl_pathc, demo, on_diag,
	                         &d, &nerr, &nwarn);
	if (!rs || nerr || nwarn)
		print_diags(&d);
	globfree(&g);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	assert_int_equal(nwarn, 0);
	assert_true(rules_count(rs) >= 20);
	rules_free(rs);
	free(demo);
	config_free(cfg);
}

static void test_model_without_the_optional_valve_compiles_for_a_house_without_one(void **state)
{
	static const char *const files[] = {"rules/model/fire.rules", "rules/model/gas.rules",
	                                    "rules/model/panic.rules", "rules/model/faults.rules",
	                                    "rules/model/reminders.rules"};
	struct diags d = {0};
	int nerr = -1, nwarn = -1;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_files(files, 5, &site, on_diag, &d, &nerr, &nwarn);
	if (!rs)
		print_diags(&d);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	rules_free(rs);
}

/* ---- diagnostics ---- */

static void test_unknown_kind_gets_a_hint_with_exact_position(void **state)
{
	struct diags d = {0};

	(void)state;
	assert_int_equal(
	    compile_bad("rule \"a\"\nwhen smok becomes detected\nthen alarm fire\nend\n", &d), 1);
	assert_diag(&d, 0, "t.rules:2:6: unknown kind \"smok\"; did you mean \"smoke\"?");
}

static void test_unknown_words_get_hints(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"a\"\n"
	            "when smoke becomes detcted\n"
	            "if mode is armed_nigth or sensor \"door-mian\" is open\n"
	            "then\n"
	            "  alarm fier\n"
	            "  siren on burgler\n"
	            "  alert militai owner\n"
	            "  alrm fire\n"
	            "end\n"
	            "rule \"b\"\n"
	            "when zone \"room-10\" becomes detected\n"
	            "then alarm fire\n"
	            "end\n",
	            &d);
	assert_ndiags(&d, 8);
	assert_diag(&d, 0, "t.rules:2:20: unknown state \"detcted\"; did you mean \"detected\"?");
	assert_diag(&d, 1,
	            "t.rules:3:12: unknown mode \"armed_nigth\"; did you mean \"armed_night\"?");
	assert_diag(&d, 2,
	            "t.rules:3:34: unknown sensor \"door-mian\"; did you mean \"door-main\"?");
	assert_diag(&d, 3, "t.rules:5:9: unknown alarm class \"fier\"; did you mean \"fire\"?");
	assert_diag(&d, 4,
	            "t.rules:6:12: unknown siren pattern \"burgler\"; did you mean \"burglar\"? "
	            "(patterns: fire, burglar, emergency)");
	assert_diag(&d, 5, "t.rules:7:9: unknown contact \"militai\"; did you mean \"militia\"?");
	assert_diag(&d, 6, "t.rules:8:3: unknown action \"alrm\"; did you mean \"alarm\"?");
	assert_diag(&d, 7, "t.rules:11:11: unknown zone \"room-10\"; did you mean \"room-101\"?");
}

static void test_three_errors_in_one_file_give_three_diagnostics(void **state)
{
	struct diags d = {0};

	(void)state;
	assert_int_equal(compile_bad("rule \"one\"\n"
	                             "when smoke becomes detected\n"
	                             "  alarm fire\n"
	                             "end\n"
	                             "\n"
	                             "rule \"two\"\n"
	                             "when gas becomes detected\n"
	                             "then alarm gas \"unterminated\n"
	                             "end\n"
	                             "\n"
	                             "rule \"three\"\n"
	                             "when panic becomes pressed\n"
	                             "then alarm panic @@\n"
	                             "end\n",
	                             &d),
	                 3);
	assert_ndiags(&d, 3);
	assert_diag(&d, 0, "t.rules:3:3: missing \"then\" before the actions");
	assert_diag(&d, 1,
	            "t.rules:8:16: unterminated string (a string ends with \" on the "
	            "same line)");
	assert_diag(&d, 2, "t.rules:13:18: stray characters \"@@\"");
}

static void test_missing_end_names_the_rule(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"a\"\n"
	            "when smoke becomes detected\n"
	            "then alarm fire\n"
	            "rule \"b\"\n"
	            "when gas becomes detected\n"
	            "then alarm gas\n",
	            &d);
	assert_ndiags(&d, 2);
	assert_diag(&d, 0, "t.rules:4:1: missing \"end\" of rule \"a\" (line 1)");
	assert_diag(&d, 1, "t.rules:7:1: missing \"end\" of rule \"b\" (line 4)");
}

static void test_duplicate_rule_name_points_at_the_first(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"fire\"\nwhen smoke becomes detected\nthen alarm fire\nend\n"
	            "\n  rule \"fire\"\nwhen heat becomes detected\nthen alarm fire\nend\n",
	            &d);
	assert_ndiags(&d, 1);
	assert_diag(&d, 0,
	            "t.rules:6:8: duplicate rule name \"fire\"; first defined at t.rules:1:1");
}

static void test_errors_of_all_files_come_in_one_pass(void **state)
{
	char bad[] = "/tmp/test_rules_XXXXXX.rules", want[512];
	const char *files[] = {"/nonexistent/a.rules", "rules/model/fire.rules", bad};
	struct diags d = {0};
	int nerr = -1, nwarn = -1, fd;
	FILE *f;

	(void)state;
	fd = mkstemps(bad, 6);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	/* the same name as a model rule: duplicates span files */
	fputs("rule \"smoke sounds the sirens and calls the owner\"\n"
	      "when smoke becomes detected\nthen alarm fire\nend\n"
	      "rule \"x\" when gas becomes open then alert end\n",
	      f);
	fclose(f);
	assert_null(rules_compile_files(files, 3, &site, on_diag, &d, &nerr, &nwarn));
	remove(bad);
	assert_int_equal(nerr, 3);
	assert_diag(&d, 0, "/nonexistent/a.rules: cannot read: No such file or directory");
	snprintf(want, sizeof(want),
	         "%s:1:6: duplicate rule name \"smoke sounds the sirens and calls the owner\"; "
	         "first defined at rules/model/fire.rules:16:1",
	         bad);
	assert_diag(&d, 1, want);
	snprintf(want, sizeof(want),
	         "%s:5:37: \"alert\" needs at least one contact, e.g. alert militia owner", bad);
	assert_diag(&d, 2, want);
}

static void test_kind_absent_from_site_is_only_a_warning(void **state)
{
	struct diags d = {0};
	int nerr = -1, nwarn = -1;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_string("rule \"water\"\nwhen water becomes detected\nthen fault\nend\n"
	                          "rule \"w2\"\nwhen smoke in zone \"kitchen\" becomes detected\n"
	                          "then fault\nend\n",
	                          "t.rules", &site, on_diag, &d, &nerr, &nwarn);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	assert_int_equal(nwarn, 2);
	assert_diag(&d, 0,
	            "t.rules:2:6: the site has no water sensor; rule \"water\" can never fire");
	assert_diag(&d, 1,
	            "t.rules:6:6: no smoke sensor in zone \"kitchen\"; rule \"w2\" can "
	            "never fire");
	assert_int_equal(d.severity[0], 1);
	rules_free(rs);
}

static void test_lexer_errors_have_exact_positions(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"a\" # comment \"with quotes\"\n"
	            "when heat above 57C\n"
	            "then alarm fire \"a\\qb\"; alert “owner”\n"
	            "end\n"
	            "rule 'b' when smoke becomes detected then alarm fire end\n",
	            &d);
	assert_ndiags(&d, 5);
	assert_diag(&d, 0, "t.rules:2:17: invalid number \"57C\"");
	assert_diag(&d, 1, "t.rules:3:19: unknown escape \"\\q\" in string (only \\\" and \\\\)");
	assert_diag(&d, 2, "t.rules:3:31: stray character \"“\" (use plain double quotes \")");
	assert_diag(&d, 3, "t.rules:3:39: stray character \"”\" (use plain double quotes \")");
	assert_diag(&d, 4, "t.rules:5:6: strings use double quotes, not '");
}

static void test_syntax_errors_say_what_was_expected(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"a\"\nwhen smoke becomse detected\nthen alarm fire\nend\n"
	            "rule \"b\"\nwhen heat above 30s\nthen alarm fire\nend\n"
	            "rule \"c\"\nwhen heat above 60 clear below 70\nthen alarm fire\nend\n"
	            "rul \"e\"\n"
	            "rule \"d\"\nwhen door becomes open\nafter 30s\n"
	            "if mode is armed_away\nthen alarm intrusion\nend\n"
	            "rule \"f\"\nwhen smoke becomes detected\nthen\nend\n",
	            &d);
	assert_ndiags(&d, 6);
	assert_diag(&d, 0,
	            "t.rules:2:12: expected \"becomes\", \"above\", \"below\", \"rises\", "
	            "\"is\" or \"offline\", got \"becomse\"; did you mean \"becomes\"?");
	assert_diag(&d, 1, "t.rules:6:17: expected a number after \"above\", got duration 30s");
	assert_diag(&d, 2,
	            "t.rules:10:20: \"clear below 70\" is on the wrong side of the "
	            "threshold 60: the rule would fire and clear at once");
	assert_diag(&d, 3, "t.rules:13:1: expected \"rule\", got \"rul\"; did you mean \"rule\"?");
	assert_diag(&d, 4,
	            "t.rules:17:1: \"if\" comes before \"after\" (when ... if ... after ... then)");
	assert_diag(&d, 5, "t.rules:22:1: no actions between \"then\" and \"end\"");
}

static void test_detected_on_a_kind_without_it(void **state)
{
	const struct rules_site_sensor gen[] = {
	    {.id = "io-1", .kind = KIND_GENERIC, .zone = Z_HALL},
	};
	struct rules_site gsite = {.zones = zones, .nzones = NZONES, .sensors = gen, .nsensors = 1};
	struct diags d = {0};
	int nerr = -1, nwarn = -1;

	(void)state;
	/* a trigger that cannot match is a warning; a condition that can
	 * never be evaluated is an error */
	assert_null(rules_compile_string("rule \"a\"\nwhen sensor \"io-1\" becomes detected\n"
	                                 "if sensor \"io-1\" is clear\nthen fault\nend\n",
	                                 "t.rules", &gsite, on_diag, &d, &nerr, &nwarn));
	assert_int_equal(nerr, 1);
	assert_int_equal(nwarn, 1);
	assert_diag(&d, 0,
	            "t.rules:2:6: no selected sensor has a \"detected\" state; rule "
	            "\"a\" can never fire");
	assert_diag(&d, 1,
	            "t.rules:3:21: sensor \"io-1\" is a generic sensor: it has no "
	            "\"clear\" state");
}

static void lex_no_error(void *ctx, int line, int col, const char *msg)
{
	(void)ctx;
	fail_msg("unexpected lexer error %d:%d: %s", line, col, msg);
}

static void test_lexer_reads_durations_numbers_and_ids(void **state)
{
	static const struct {
		enum rules_tok_type type;
		const char *text;
		double num;
		int64_t ms;
	} want[] = {
	    {TOK_DURATION, "30s", 0, 30000},
	    {TOK_DURATION, "5m", 0, 300000},
	    {TOK_DURATION, "1h30m", 0, 5400000},
	    {TOK_DURATION, "2d", 0, 172800000},
	    {TOK_DURATION, "500ms", 0, 500},
	    {TOK_NUMBER, "-3.25", -3.25, 0},
	    {TOK_NUMBER, "57", 57, 0},
	    {TOK_NEWLINE, "", 0, 0},
	    {TOK_IDENT, "room-101", 0, 0},
	    {TOK_IDENT, "_x", 0, 0},
	    {TOK_OP, ">=", 0, 0},
	    {TOK_SEMI, ";", 0, 0},
	    {TOK_LPAREN, "(", 0, 0},
	    {TOK_STRING, "Mất \"kết\" nối", 0, 0},
	    {TOK_RPAREN, ")", 0, 0},
	    {TOK_TIME, "08:00", 0, 8 * 3600000},
	    {TOK_TIME, "7:05", 0, (7 * 60 + 5) * 60000},
	    {TOK_EOF, "", 0, 0},
	};
	static const char text[] = "30s 5m 1h30m 2d 500ms -3.25 57 # comment\n\n"
	                           "room-101 _x>=;(\"Mất \\\"kết\\\" nối\") 08:00 7:05";
	struct rules_toks toks;

	(void)state;
	assert_int_equal(rules_lex(text, sizeof(text) - 1, lex_no_error, NULL, &toks), 0);
	assert_int_equal(toks.n, (int)(sizeof(want) / sizeof(want[0])));
	for (int i = 0; i < toks.n; i++) {
		assert_int_equal(toks.v[i].type, want[i].type);
		assert_string_equal(toks.v[i].text, want[i].text);
		assert_true(toks.v[i].num == want[i].num);
		assert_true(toks.v[i].ms == want[i].ms);
	}
	assert_int_equal(toks.v[8].line, 3);
	assert_int_equal(toks.v[8].col, 1);
	assert_int_equal(toks.v[10].col, 12);
	rules_lex_free(&toks);
}

/* ---- semantics ---- */

static void test_becomes_fires_on_the_edge_only(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"smoke\"\nwhen smoke becomes detected\nthen alarm fire\nend\n", &d);
	/* unknown -> detected fires */
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 1);
	/* the same report again fires nothing */
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 1, 1, 1, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* unknown -> clear is nothing at all */
	assert_int_equal(feed(rs, S_SMOKE_102, POINT_SMOKE, 0, 0, 0, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* clear -> detected fires */
	assert_int_equal(feed(rs, S_SMOKE_102, POINT_SMOKE, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	rules_free(rs);
}

static void test_leaving_the_state_emits_only_cleared(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;
	struct rules_stats st;

	(void)state;
	rs = compile_ok("rule \"smoke\"\nwhen smoke becomes detected\n"
	                "then alarm fire; siren on; alert militia\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 1, 1, 0, NULL, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(acts.a[0].rule, 0);
	assert_int_equal(acts.a[0].sensor, S_SMOKE_101);
	assert_int_equal(acts.a[0].zone, Z_101);
	assert_int_equal(acts.a[0].cls, ALARM_FIRE);
	rules_get_stats(rs, &st);
	assert_int_equal(st.cleared, 1);
	assert_int_equal(st.fired, 0);
	rules_free(rs);
}

static void test_panic_every_press_counts_and_never_clears(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"sos\"\nwhen panic becomes pressed\nthen alarm panic\nend\n", &d);
	assert_int_equal(feed(rs, S_PANIC_HALL, POINT_PANIC, 0, 0, 1, NULL, &acts), 1);
	assert_int_equal(feed(rs, S_PANIC_HALL, POINT_PANIC, 1, 1, 1, NULL, &acts), 1);
	assert_int_equal(feed(rs, S_PANIC_HALL, POINT_PANIC, 1, 1, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(feed(rs, S_PANIC_HALL, POINT_PANIC, 1, 1, 0, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	rules_free(rs);
}

static void test_detected_means_the_kinds_primary_point(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"any\"\nwhen any sensor becomes detected\nthen alarm fire\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_GAS_KITCHEN, POINT_GAS, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_HEAT, 1, 0, 1, NULL, &acts), 1);
	/* a smoke detector's gas point is not its primary point */
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_GAS, 1, 0, 1, NULL, &acts), 0);
	rules_free(rs);
}

static void test_threshold_fires_once_with_hysteresis(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"hot\"\nwhen heat above 57 clear below 50\nthen alarm fire\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 0, 0, 30, NULL, &acts), 0);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 30, 57, NULL, &acts), 0);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 57, 57.5, NULL, &acts), 1);
	assert_int_equal(acts.a[0].value, 57.5);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 57.5, 60, NULL, &acts), 0);
	/* down into the band and back up: still the same fire */
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 60, 52, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 52, 58, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* 50 is not below 50 */
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 58, 50, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 50, 49.9, NULL, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	/* re-armed: the next crossing fires again */
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 49.9, 58, NULL, &acts), 1);
	rules_free(rs);
}

static void test_threshold_without_clear_rearms_at_the_threshold(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"hot\"\nwhen sensor \"heat-kitchen\" temperature above 40\n"
	                "then supervisory \"hot kitchen\"\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 0, 0, 41, NULL, &acts), 1);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 41, 40, NULL, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(acts.a[0].cls, ALARM_SUPERVISORY);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 40, 41, NULL, &acts), 1);
	rules_free(rs);
}

static void test_first_reading_after_reload_is_not_a_new_crossing(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"hot\"\nwhen heat above 57\nthen alarm fire\nend\n", &d);
	/* the registry knew 60 before this rule set existed */
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 60, 61, NULL, &acts), 0);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 61, 20, NULL, &acts), 0);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 1, 20, 61, NULL, &acts), 1);
	rules_free(rs);
}

static void test_battery_below_with_hysteresis(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"batt\"\nwhen any sensor battery below 15 clear above 25\n"
	                "then fault \"battery\"\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_BATTERY, 0, 0, 14, NULL, &acts), 1);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_BATTERY, 1, 14, 20, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_BATTERY, 1, 20, 10, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_BATTERY, 1, 10, 100, NULL, &acts), 0);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	/* temperature readings do not reach a battery rule */
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_TEMPERATURE, 0, 0, 1, NULL, &acts), 0);
	rules_free(rs);
}

static void test_condition_on_mode_and_another_sensor(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_DISARMED};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(
	    "rule \"door at night\"\n"
	    "when door becomes open\n"
	    "if (mode is armed_night or mode is armed_away)\n"
	    "   and not sensor \"panic-hall\" is pressed\n"
	    "then alarm intrusion; siren on burglar; alert owner militia priority normal\n"
	    "end\n",
	    &d);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_CONTACT, 1, 0, 1, &w, &acts), 0);
	w.mode = MODE_ARMED_NIGHT;
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_CONTACT, 1, 0, 1, &w, &acts), 1);
	assert_int_equal(acts.n, 3);
	assert_int_equal(acts.a[0].cls, ALARM_INTRUSION);
	assert_int_equal(acts.a[1].pattern, SIREN_BURGLAR);
	assert_int_equal(acts.a[2].contacts[0], C_OWNER);
	assert_int_equal(acts.a[2].contacts[1], C_MILITIA);
	assert_int_equal(acts.a[2].priority, PRIO_NORMAL);
	world_set(&w, S_PANIC_HALL, POINT_PANIC, 1);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_CONTACT, 1, 0, 1, &w, &acts), 0);
	world_set(&w, S_PANIC_HALL, POINT_PANIC, 0);
	w.mode = MODE_ARMED_AWAY;
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_CONTACT, 1, 0, 1, &w, &acts), 1);
	rules_free(rs);
}

static void test_unknown_point_makes_is_false_and_is_not_true(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_DISARMED};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"is\"\nwhen smoke becomes detected\n"
	                "if sensor \"door-main\" is open\nthen alarm fire\nend\n"
	                "rule \"is not\"\nwhen smoke becomes detected\n"
	                "if sensor \"door-main\" is not open\nthen alarm fire\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	assert_string_equal(rules_name(rs, acts.a[0].rule), "is not");
	world_set(&w, S_DOOR_MAIN, POINT_CONTACT, 1);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	assert_string_equal(rules_name(rs, acts.a[0].rule), "is");
	rules_free(rs);
}

static void test_and_binds_tighter_than_or(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_AWAY};
	struct ruleset *rs;

	(void)state;
	/* armed_away or (armed_night and door open) */
	rs = compile_ok("rule \"p\"\nwhen smoke becomes detected\n"
	                "if mode is armed_away or mode is armed_night and sensor \"door-main\" is "
	                "open\nthen alarm fire\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	w.mode = MODE_ARMED_NIGHT;
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 0);
	world_set(&w, S_DOOR_MAIN, POINT_CONTACT, 1);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	rules_free(rs);
}

static void test_rules_fire_in_source_order_with_their_actions(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(
	    "rule \"one\"\nwhen zone \"room-101\" becomes detected\n"
	    "then siren on emergency; alarm fire \"a\"\nend\n"
	    "rule \"two\"\nwhen smoke in zone \"room-101\" becomes detected\n"
	    "then siren off\nend\n"
	    "rule \"three\"\nwhen sensor \"smoke-101\" becomes detected then alarm gas end\n",
	    &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 1, 0, 1, NULL, &acts), 3);
	assert_int_equal(acts.n, 4);
	assert_int_equal(acts.a[0].type, RA_SIREN_ON);
	assert_int_equal(acts.a[0].pattern, SIREN_EMERGENCY);
	assert_int_equal(acts.a[1].type, RA_ALARM);
	assert_string_equal(acts.a[1].message, "a");
	assert_int_equal(acts.a[2].type, RA_SIREN_OFF);
	assert_int_equal(acts.a[2].rule, 1);
	assert_int_equal(acts.a[3].cls, ALARM_GAS);
	assert_int_equal(acts.a[3].rule, 2);
	/* smoke in another room matches none of them */
	assert_int_equal(feed(rs, S_SMOKE_102, POINT_SMOKE, 1, 0, 1, NULL, &acts), 0);
	rules_free(rs);
}

static void test_a_reading_visits_only_rules_selecting_its_sensor(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct rules_stats before, after;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(
	    "rule \"A\"\nwhen sensor \"smoke-101\" becomes detected\nthen alarm fire\n"
	    "end\n"
	    "rule \"B1\"\nwhen sensor \"smoke-102\" becomes detected\nthen alarm fire\n"
	    "end\n"
	    "rule \"B2\"\nwhen zone \"room-102\" becomes detected\nthen alarm fire\nend\n"
	    "rule \"offline\"\nwhen any sensor becomes offline\nthen fault\nend\n",
	    &d);
	rules_get_stats(rs, &before);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 1, 0, 1, NULL, &acts), 1);
	rules_get_stats(rs, &after);
	assert_int_equal(after.visited - before.visited, 1);
	assert_int_equal(after.evals - before.evals, 1);

	/* a point no rule watches on that sensor visits nothing */
	before = after;
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_TEMPERATURE, 1, 20, 90, NULL, &acts), 0);
	rules_get_stats(rs, &after);
	assert_int_equal(after.visited - before.visited, 0);

	before = after;
	assert_int_equal(feed(rs, S_SMOKE_102, POINT_SMOKE, 1, 0, 1, NULL, &acts), 2);
	rules_get_stats(rs, &after);
	assert_int_equal(after.visited - before.visited, 2);
	rules_free(rs);
}

static void test_strings_keep_vietnamese_and_escapes(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("\xef\xbb\xbfrule \"cháy\" # BOM, CRLF and tabs are fine\r\n"
	                "when\tsmoke becomes detected\r\n"
	                "then alarm fire \"Cháy ở \\\"phòng\\\" 101 \\\\ tầng 1\"\r\n"
	                "end\r\n",
	                &d);
	assert_string_equal(rules_name(rs, 0), "cháy");
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, NULL, &acts), 1);
	assert_string_equal(acts.a[0].message, "Cháy ở \"phòng\" 101 \\ tầng 1");
	rules_free(rs);
}

static void test_contacts_may_be_quoted_and_are_limited(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"q\"\nwhen smoke becomes detected\n"
	                "then alert \"militia\" owner priority low\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.a[0].ncontacts, 2);
	assert_int_equal(acts.a[0].priority, PRIO_LOW);
	rules_free(rs);

	memset(&d, 0, sizeof(d));
	compile_bad("rule \"q\"\nwhen smoke becomes detected\n"
	            "then alert militia priority high\nend\n",
	            &d);
	assert_diag(&d, 0, "t.rules:3:29: unknown priority \"high\"");
}

static void test_eval_rejects_bad_arguments(void **state)
{
	struct diags d = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"a\"\nwhen smoke becomes detected\nthen alarm fire\nend\n", &d);
	assert_int_equal(rules_eval(rs, -1, POINT_SMOKE, 0, 0, 1, 0, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(rules_eval(rs, NSENSORS, POINT_SMOKE, 0, 0, 1, 0, NULL, NULL, NULL),
	                 -EINVAL);
	assert_int_equal(rules_eval(rs, 0, POINT__COUNT, 0, 0, 1, 0, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(rules_eval(NULL, 0, POINT_SMOKE, 0, 0, 1, 0, NULL, NULL, NULL), -EINVAL);
	/* no emit callback: still counts */
	assert_int_equal(rules_eval(rs, 0, POINT_SMOKE, 0, 0, 1, 0, NULL, NULL, NULL), 1);
	rules_free(rs);
	rules_free(NULL);
	assert_int_equal(rules_count(NULL), 0);
	assert_null(rules_name(NULL, 0));
}

static void test_empty_text_is_an_empty_rule_set(void **state)
{
	struct diags d = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("# nothing here\n\n", &d);
	assert_int_equal(rules_count(rs), 0);
	rules_free(rs);
}

/* ---- version 2: rate of rise ---- */

static void test_rises_fires_at_8_per_minute_but_not_at_8_per_3_minutes(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;
	int fired = 0;

	(void)state;
	rs = compile_ok("rule \"fast heat\"\nwhen heat rises 8 per 1m\n"
	                "then alarm fire \"Nhiệt tăng nhanh: ${value}\"\nend\n",
	                &d);
	/* 8 degrees over 3 minutes, reported every 20 s: never 8 in a minute */
	for (int i = 0; i <= 9; i++)
		fired += feed_at(rs, i * 20 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE,
		                 20 + i * 8.0 / 9, &w, &acts);
	assert_int_equal(fired, 0);
	rules_free(rs);

	memset(&d, 0, sizeof(d));
	memset(&w, 0, sizeof(w));
	rs = compile_ok("rule \"fast heat\"\nwhen heat rises 8 per 1m\n"
	                "then alarm fire \"Nhiệt tăng nhanh: ${value}\"\nend\n",
	                &d);
	assert_int_equal(feed_at(rs, 0, S_HEAT_KITCHEN, POINT_TEMPERATURE, 20, &w, &acts), 0);
	assert_int_equal(feed_at(rs, 30 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 24, &w, &acts),
	                 0);
	/* exactly a minute after the lowest reading: it is still in the window */
	assert_int_equal(feed_at(rs, 60 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 28, &w, &acts),
	                 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].sensor, S_HEAT_KITCHEN);
	assert_int_equal(acts.a[0].zone, Z_KITCHEN);
	assert_string_equal(acts.a[0].message, "Nhiệt tăng nhanh: 28");
	/* still rising: one alarm, not one per reading */
	assert_int_equal(feed_at(rs, 70 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 35, &w, &acts),
	                 0);
	assert_int_equal(acts.n, 0);
	rules_free(rs);
}

static void test_rises_rearms_when_the_rise_falls_below_half_even_without_readings(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"fast heat\"\nwhen sensor \"heat-kitchen\" temperature rises 8 per "
	                "1m\nthen supervisory \"heat\"\nend\n",
	                &d);
	feed_at(rs, 0, S_HEAT_KITCHEN, POINT_TEMPERATURE, 20, &w, &acts);
	feed_at(rs, 30 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 24, &w, &acts);
	assert_int_equal(feed_at(rs, 60 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 28, &w, &acts),
	                 1);
	/* the temperature stays at 28 and is not reported again: when 20
	 * leaves the window the rise is 4, half of 8, still armed... */
	assert_int_equal(deadline(rs, 60 * SEC, &w), 60 * SEC + 1);
	assert_int_equal(tick_at(rs, 60 * SEC + 1, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* ...when 24 leaves it, the rise is 0: re-armed, with a notice */
	assert_int_equal(deadline(rs, 60 * SEC + 1, &w), 90 * SEC + 1);
	assert_int_equal(tick_at(rs, 90 * SEC + 1, &w, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(acts.a[0].cls, ALARM_SUPERVISORY);
	assert_int_equal(acts.a[0].sensor, S_HEAT_KITCHEN);
	assert_int_equal(deadline(rs, 90 * SEC + 1, &w), INT64_MAX);
	/* and a new rise fires again */
	assert_int_equal(feed_at(rs, 100 * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 37, &w, &acts),
	                 1);
	rules_free(rs);
}

static void test_rises_keeps_the_lowest_reading_when_readings_come_fast(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;
	int fired = 0;

	(void)state;
	rs = compile_ok("rule \"r\"\nwhen heat rises 5 per 1m\nthen fault\nend\n", &d);
	/* one reading a second, slowly rising: more readings than the
	 * history holds, and the first one is still the lowest */
	for (int i = 0; i < 60; i++)
		fired += feed_at(rs, i * SEC, S_HEAT_KITCHEN, POINT_TEMPERATURE, 20 + i * 0.1, &w,
		                 &acts);
	assert_int_equal(fired, 1);
	rules_free(rs);
}

/* ---- version 2: states held for a time ---- */

static void test_is_open_for_fires_after_exactly_the_duration(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"door left open\"\nwhen door is open for 5m\n"
	                "then supervisory \"Cửa mở quá lâu: ${sensor_name}\"\nend\n",
	                &d);
	assert_int_equal(deadline(rs, 0, &w), INT64_MAX);
	assert_int_equal(feed_at(rs, 1 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts), 0);
	assert_int_equal(deadline(rs, 1 * SEC, &w), 5 * MIN + 1 * SEC);
	assert_int_equal(tick_at(rs, 5 * MIN + 1 * SEC - 1, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(tick_at(rs, 5 * MIN + 1 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].sensor, S_DOOR_MAIN);
	assert_int_equal(acts.a[0].zone, Z_HALL);
	assert_string_equal(acts.a[0].message, "Cửa mở quá lâu: door-main");
	/* once */
	assert_int_equal(tick_at(rs, 20 * MIN, &w, &acts), 0);
	/* closing clears it */
	assert_int_equal(feed_at(rs, 21 * MIN, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(acts.a[0].cls, ALARM_SUPERVISORY);
	rules_free(rs);
}

static void test_is_open_for_does_not_fire_when_the_door_closed_in_time(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"door left open\"\nwhen sensor \"door-main\" is open for 5m\n"
	                "then supervisory\nend\n",
	                &d);
	feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	assert_int_equal(feed_at(rs, 5 * MIN - 1, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts), 0);
	assert_int_equal(acts.n, 0); /* never fired: nothing to clear */
	assert_int_equal(tick_at(rs, 5 * MIN, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* open again: the hold starts over */
	feed_at(rs, 6 * MIN, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	assert_int_equal(tick_at(rs, 10 * MIN, &w, &acts), 0);
	assert_int_equal(tick_at(rs, 11 * MIN, &w, &acts), 1);
	rules_free(rs);
}

static void test_a_hold_that_completed_is_not_undone_by_a_late_tick(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"open\"\nwhen door is open for 5m\nthen supervisory\nend\n", &d);
	feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	/* the door closes 1 ms after the hold completed, before the daemon
	 * got round to rules_tick: the hold happened, then it cleared */
	assert_int_equal(feed_at(rs, 5 * MIN + 1, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[1].type, RA_CLEARED);
	rules_free(rs);
}

static void test_offline_for_an_hour_is_a_fault_per_sensor(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"silent\"\nwhen any sensor offline for 1h\n"
	                "then fault \"Mất kết nối: ${sensor}\"\nend\n",
	                &d);
	world_set(&w, S_SMOKE_101, POINT_ONLINE, 1);
	world_set(&w, S_SMOKE_102, POINT_ONLINE, 1);
	feed_at(rs, 0, S_SMOKE_101, POINT_ONLINE, 0, &w, &acts);
	feed_at(rs, 10 * MIN, S_SMOKE_102, POINT_ONLINE, 0, &w, &acts);
	/* smoke-102 comes back before its hour */
	feed_at(rs, 30 * MIN, S_SMOKE_102, POINT_ONLINE, 1, &w, &acts);
	assert_int_equal(tick_at(rs, 1 * HOUR, &w, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].cls, ALARM_FAULT);
	assert_string_equal(acts.a[0].message, "Mất kết nối: smoke-101");
	assert_int_equal(tick_at(rs, 3 * HOUR, &w, &acts), 0);
	rules_free(rs);
}

static void test_a_sensor_already_offline_at_a_reload_still_gets_its_hour(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	/* the registry knew the sensor was offline before these rules existed,
	 * and an offline sensor sends nothing more */
	world_set(&w, S_PANIC_STAIRS, POINT_ONLINE, 0);
	rs = compile_ok("rule \"silent\"\nwhen sensor \"panic-stairs\" is offline for 1h\n"
	                "then fault\nend\n",
	                &d);
	assert_int_equal(tick_at(rs, 5 * MIN, &w, &acts), 0);
	assert_int_equal(deadline(rs, 5 * MIN, &w), 5 * MIN + 1 * HOUR);
	assert_int_equal(tick_at(rs, 5 * MIN + 1 * HOUR, &w, &acts), 1);
	assert_int_equal(acts.a[0].sensor, S_PANIC_STAIRS);
	rules_free(rs);
}

/* ---- version 2: counts ---- */

static void test_count_fires_for_two_distinct_detectors_within_2m(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"confirmed fire\"\n"
	                "when count smoke detected in site within 2m >= 2\n"
	                "then alarm fire confirmed \"Hai đầu báo khói\"; alert militia\nend\n",
	                &d);
	assert_int_equal(feed_at(rs, 0, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(feed_at(rs, 1 * MIN + 59 * SEC, S_SMOKE_204, POINT_SMOKE, 1, &w, &acts),
	                 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].confirmed, 1);
	/* the second detector, the one that confirmed, and its zone */
	assert_int_equal(acts.a[0].sensor, S_SMOKE_204);
	assert_int_equal(acts.a[0].zone, Z_204);
	/* a third one is the same confirmed fire: no second firing */
	assert_int_equal(feed_at(rs, 1 * MIN + 59500, S_SMOKE_102, POINT_SMOKE, 1, &w, &acts), 0);
	/* until the first one leaves the window (2 minutes after it came):
	 * the count is below 2 again, and a fourth makes a new crossing */
	assert_int_equal(tick_at(rs, 2 * MIN, &w, &acts), 0);
	assert_int_equal(feed_at(rs, 2 * MIN + 1, S_SMOKE_103, POINT_SMOKE, 1, &w, &acts), 0);
	assert_int_equal(tick_at(rs, 3 * MIN + 59 * SEC, &w, &acts), 0);
	assert_int_equal(feed_at(rs, 4 * MIN, S_SMOKE_104, POINT_SMOKE, 1, &w, &acts), 1);
	rules_free(rs);
}

static void test_count_does_not_fire_for_the_same_detector_twice(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;
	int fired = 0;

	(void)state;
	rs = compile_ok("rule \"confirmed fire\"\n"
	                "when count smoke detected in site within 2m >= 2\n"
	                "then alarm fire confirmed\nend\n",
	                &d);
	fired += feed_at(rs, 0, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts);
	fired += feed_at(rs, 10 * SEC, S_SMOKE_101, POINT_SMOKE, 0, &w, &acts);
	fired += feed_at(rs, 20 * SEC, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts);
	fired += feed_at(rs, 30 * SEC, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts);
	assert_int_equal(fired, 0);
	rules_free(rs);
}

static void test_count_does_not_fire_for_two_detectors_3m_apart(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"confirmed fire\"\n"
	                "when count smoke detected in site within 2m >= 2\n"
	                "then alarm fire confirmed\nend\n",
	                &d);
	feed_at(rs, 0, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts);
	assert_int_equal(deadline(rs, 0, &w), 2 * MIN);
	assert_int_equal(feed_at(rs, 3 * MIN, S_SMOKE_102, POINT_SMOKE, 1, &w, &acts), 0);
	/* but a third within 2 minutes of the second confirms */
	assert_int_equal(feed_at(rs, 4 * MIN, S_SMOKE_103, POINT_SMOKE, 1, &w, &acts), 1);
	rules_free(rs);
}

static void test_count_rearms_and_clears_when_detectors_clear(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"two\"\nwhen count smoke detected in site within 2m >= 2\n"
	                "then supervisory\nend\n",
	                &d);
	feed_at(rs, 0, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts);
	assert_int_equal(feed_at(rs, 10 * SEC, S_SMOKE_102, POINT_SMOKE, 1, &w, &acts), 1);
	/* the window ends but both still see smoke: the cause is still there */
	assert_int_equal(tick_at(rs, 5 * MIN, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* one clears: fewer than 2 in smoke, the cause is gone */
	assert_int_equal(feed_at(rs, 6 * MIN, S_SMOKE_101, POINT_SMOKE, 0, &w, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(acts.a[0].sensor, S_SMOKE_102); /* the firing's sensor */
	assert_int_equal(acts.a[0].cls, ALARM_SUPERVISORY);
	/* re-armed: two new entries within the window fire again */
	feed_at(rs, 7 * MIN, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts);
	assert_int_equal(feed_at(rs, 8 * MIN, S_SMOKE_103, POINT_SMOKE, 1, &w, &acts), 1);
	rules_free(rs);
}

static void test_count_in_zone_counts_each_zone_apart(void **state)
{
	const struct rules_site_sensor two[] = {
	    {.id = "smoke-a1", .kind = KIND_SMOKE, .zone = Z_101},
	    {.id = "smoke-a2", .kind = KIND_SMOKE, .zone = Z_101},
	    {.id = "smoke-b1", .kind = KIND_SMOKE, .zone = Z_102},
	};
	struct rules_site s2 = {.zones = zones, .nzones = NZONES, .sensors = two, .nsensors = 3};
	struct diags d = {0};
	struct actions acts;
	int nerr = -1;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_string("rule \"zone pair\"\n"
	                          "when count smoke detected in zone within 2m >= 2\n"
	                          "then alarm fire\nend\n",
	                          "t.rules", &s2, on_diag, &d, &nerr, NULL);
	assert_non_null(rs);
	assert_int_equal(d.n, 0);
	memset(&acts, 0, sizeof(acts));
	/* one in each zone: no zone has two */
	assert_int_equal(rules_eval(rs, 0, POINT_SMOKE, 1, 0, 1, 0, NULL, on_action, &acts), 0);
	assert_int_equal(rules_eval(rs, 2, POINT_SMOKE, 1, 0, 1, 1000, NULL, on_action, &acts), 0);
	/* the second one in room-101 */
	assert_int_equal(rules_eval(rs, 1, POINT_SMOKE, 1, 0, 1, 2000, NULL, on_action, &acts), 1);
	assert_int_equal(acts.a[0].zone, Z_101);
	rules_free(rs);

	/* in the test site no zone has two smoke detectors: a warning */
	memset(&d, 0, sizeof(d));
	rs = compile_ok("rule \"zone pair\"\nwhen count smoke detected in zone within 2m >= 2\n"
	                "then alarm fire\nend\n",
	                &d);
	assert_ndiags(&d, 1);
	assert_int_equal(d.severity[0], 1);
	assert_diag(&d, 0,
	            "t.rules:2:12: count needs 2 smoke sensors in one zone but no zone has more "
	            "than 1; rule \"zone pair\" can never fire");
	rules_free(rs);
}

/* ---- version 2: the calendar ---- */

static void test_every_day_at_0800_fires_once_when_local_time_crosses_it(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.local = local_at(2026, 3, 10, 7, 59)};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"morning check\"\nwhen every day at 08:00\n"
	                "then notify owner \"Kiểm tra bình chữa cháy (${zone})\"\nend\n",
	                &d);
	assert_int_equal(tick_at(rs, 0, &w, &acts), 0);
	/* 1 minute of local time to go, from monotonic 0 */
	assert_int_equal(deadline(rs, 0, &w), 1 * MIN);
	w.local += 1 * MIN + 30 * SEC;
	assert_int_equal(tick_at(rs, 90 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_NOTIFY);
	assert_int_equal(acts.a[0].sensor, -1);
	assert_int_equal(acts.a[0].zone, -1);
	assert_int_equal(acts.a[0].ncontacts, 1);
	assert_int_equal(acts.a[0].contacts[0], C_OWNER);
	assert_string_equal(acts.a[0].message, "Kiểm tra bình chữa cháy (-)");
	w.local += 1 * MIN;
	assert_int_equal(tick_at(rs, 150 * SEC, &w, &acts), 0);
	/* tomorrow at 08:00 */
	assert_int_equal(deadline(rs, 150 * SEC, &w),
	                 150 * SEC + local_at(2026, 3, 11, 8, 0) - w.local);
	for (int i = 0; i < 24 * 60; i++) {
		w.local += 1 * MIN;
		tick_at(rs, 150 * SEC + (i + 1) * MIN, &w, &acts);
		if (acts.n)
			break;
	}
	assert_int_equal(acts.n, 1);
	assert_true(w.local >= local_at(2026, 3, 11, 8, 0));
	assert_true(w.local < local_at(2026, 3, 11, 8, 1));
	rules_free(rs);
}

static void test_every_day_does_not_fire_after_a_5h_forward_jump(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.local = local_at(2026, 3, 10, 5, 0)};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"r\"\nwhen every day at 08:00\nthen notify owner \"x\"\nend\n", &d);
	tick_at(rs, 0, &w, &acts);
	/* NTP sets the clock of a board that booted without one */
	w.local = local_at(2026, 3, 10, 10, 0);
	assert_int_equal(tick_at(rs, 1 * MIN, &w, &acts), 0);
	w.local = local_at(2026, 3, 11, 7, 59);
	tick_at(rs, 2 * MIN, &w, &acts);
	/* 21 h 59 min is a jump too: still nothing, and the plan is tomorrow's */
	assert_int_equal(acts.n, 0);
	w.local = local_at(2026, 3, 11, 8, 0);
	assert_int_equal(tick_at(rs, 3 * MIN, &w, &acts), 1);
	rules_free(rs);
}

static void test_every_day_does_not_fire_after_a_backward_jump(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.local = local_at(2026, 3, 10, 7, 58)};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"r\"\nwhen every day at 08:00\nthen notify owner \"x\"\nend\n", &d);
	tick_at(rs, 0, &w, &acts);
	w.local = local_at(2026, 3, 10, 8, 5);
	assert_int_equal(tick_at(rs, 7 * MIN, &w, &acts), 1);
	/* the clock was 10 minutes fast and is set back across 08:00: the
	 * reminder has been sent and is not sent again */
	w.local = local_at(2026, 3, 10, 7, 55);
	assert_int_equal(tick_at(rs, 8 * MIN, &w, &acts), 0);
	w.local = local_at(2026, 3, 10, 8, 1);
	assert_int_equal(tick_at(rs, 14 * MIN, &w, &acts), 0);
	/* a big step back (a day) fires nothing at the jump */
	w.local = local_at(2026, 3, 9, 9, 0);
	assert_int_equal(tick_at(rs, 15 * MIN, &w, &acts), 0);
	/* and the calendar goes on from the new time */
	w.local = local_at(2026, 3, 10, 7, 59);
	tick_at(rs, 16 * MIN, &w, &acts);
	w.local = local_at(2026, 3, 10, 8, 0);
	assert_int_equal(tick_at(rs, 17 * MIN, &w, &acts), 1);
	rules_free(rs);
}

static void test_every_weekday_fires_on_that_day_only(void **state)
{
	struct diags d = {0};
	struct actions acts;
	/* 2026-03-08 is a Sunday */
	struct world w = {.local = local_at(2026, 3, 8, 23, 0)};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"weekly test\"\nwhen every monday at 09:30\n"
	                "then notify owner \"Thử còi hằng tuần\"\nend\n",
	                &d);
	tick_at(rs, 0, &w, &acts);
	assert_int_equal(deadline(rs, 0, &w), local_at(2026, 3, 9, 9, 30) - w.local);
	w.local = local_at(2026, 3, 9, 9, 29);
	tick_at(rs, 1, &w, &acts);
	assert_int_equal(acts.n, 0);
	w.local = local_at(2026, 3, 9, 9, 30);
	assert_int_equal(tick_at(rs, 2, &w, &acts), 1);
	/* next: a week later */
	assert_int_equal(deadline(rs, 2, &w), 2 + 7 * 24 * HOUR);
	rules_free(rs);
}

static void test_every_month_on_day_31_fires_on_the_last_day_of_february(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.local = local_at(2026, 2, 27, 12, 0)};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"monthly\"\nwhen every month on day 31 at 08:00\n"
	                "then notify owner \"Báo cáo tháng\"\nend\n",
	                &d);
	tick_at(rs, 0, &w, &acts);
	assert_int_equal(deadline(rs, 0, &w), local_at(2026, 2, 28, 8, 0) - w.local);
	w.local = local_at(2026, 2, 28, 7, 59);
	tick_at(rs, 1, &w, &acts);
	w.local = local_at(2026, 2, 28, 8, 0);
	assert_int_equal(tick_at(rs, 2, &w, &acts), 1);
	/* then March 31st */
	assert_int_equal(deadline(rs, 2, &w), 2 + local_at(2026, 3, 31, 8, 0) - w.local);
	rules_free(rs);

	/* a leap year: the 29th */
	memset(&d, 0, sizeof(d));
	w.local = local_at(2028, 2, 1, 0, 0);
	rs = compile_ok("rule \"monthly\"\nwhen every month on day 31 at 08:00\n"
	                "then notify owner \"x\"\nend\n",
	                &d);
	assert_int_equal(deadline(rs, 0, &w), local_at(2028, 2, 29, 8, 0) - w.local);
	rules_free(rs);
}

static void test_every_year_fires_once_a_year_on_its_date(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.local = local_at(2026, 3, 14, 12, 0)};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"yearly inspection\"\nwhen every year on march 15 at 09:00\n"
	                "then notify owner \"Kiểm tra PCCC định kỳ hằng năm\"\nend\n",
	                &d);
	tick_at(rs, 0, &w, &acts);
	assert_int_equal(deadline(rs, 0, &w), local_at(2026, 3, 15, 9, 0) - w.local);
	w.local = local_at(2026, 3, 15, 8, 59);
	tick_at(rs, 1, &w, &acts);
	w.local = local_at(2026, 3, 15, 9, 0);
	assert_int_equal(tick_at(rs, 1, &w, &acts), 1);
	assert_int_equal(acts.a[0].type, RA_NOTIFY);
	/* and next on March 15th 2027 */
	assert_int_equal(deadline(rs, 1, &w), 1 + local_at(2027, 3, 15, 9, 0) - w.local);
	rules_free(rs);
	memset(&d, 0, sizeof(d));
	compile_bad(
	    "rule \"r\"\nwhen every year on marhc 15 at 09:00\nthen notify owner \"x\"\nend\n", &d);
	assert_diag(&d, 0, "t.rules:2:20: unknown month \"marhc\"; did you mean \"march\"?");
}

static void test_mode_held_for_a_duration_is_an_exit_delay(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_DISARMED};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"door while armed\"\nwhen door becomes open\n"
	                "if mode is armed_away for 60s\nthen alarm intrusion\nend\n",
	                &d);
	mode_at(rs, 0, MODE_ARMED_AWAY, &w, &acts);
	/* leaving through the front door within the exit delay */
	assert_int_equal(feed_at(rs, 20 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts), 0);
	assert_int_equal(feed_at(rs, 25 * SEC, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts), 0);
	/* after it, the same door is an intrusion */
	assert_int_equal(feed_at(rs, 61 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts), 1);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].cls, ALARM_INTRUSION);
	rules_free(rs);
}

static void test_a_mode_unchanged_since_loading_counts_as_held(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_AWAY}; /* restored after a restart */
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"door while armed\"\nwhen door becomes open\n"
	                "if mode is armed_away for 60s\nthen alarm intrusion\nend\n",
	                &d);
	assert_int_equal(feed_at(rs, 1 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts), 1);
	rules_free(rs);
}

static void test_alert_every_carries_the_repeat_interval(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"low battery\"\nwhen any sensor becomes low\n"
	                "then fault \"Pin yếu\"; alert owner every 4h\nend\n",
	                &d);
	assert_int_equal(feed_at(rs, 0, S_SMOKE_101, POINT_BATTERY_LOW, 1, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[1].type, RA_ALERT);
	assert_true(acts.a[1].repeat_ms == 4 * HOUR);
	rules_free(rs);
	memset(&d, 0, sizeof(d));
	compile_bad("rule \"r\"\nwhen any sensor becomes low\nthen alert owner every 0s\nend\n",
	            &d);
}

static void test_calendar_needs_a_clock(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0}; /* no local_ms */
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"r\"\nwhen every day at 08:00\nthen notify owner \"x\"\nend\n", &d);
	assert_int_equal(tick_at(rs, 0, &w, &acts), 0);
	assert_int_equal(deadline(rs, 0, &w), INT64_MAX);
	assert_int_equal(rules_tick(rs, 0, NULL, NULL, NULL), 0);
	rules_free(rs);
}

/* ---- version 2: alarm and mode triggers, delays ---- */

static const char militia_rule[] =
    "rule \"nobody acknowledged the fire within 60 s: call the militia\"\n"
    "when alarm fire becomes raised\n"
    "after 60s unless alarm fire is acknowledged\n"
    "then alert militia priority urgent\n"
    "end\n";

static void test_unacknowledged_fire_calls_the_militia_with_the_alarm_id(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(militia_rule, &d);
	w.alarm[ALARM_FIRE][Z_101] = RULES_ALARM_ACTIVE;
	assert_int_equal(alarm_at(rs, 0, ALARM_FIRE, Z_101, S_SMOKE_101, 42, RAE_RAISED, &w, &acts),
	                 1);
	assert_int_equal(acts.n, 0); /* waiting */
	assert_int_equal(deadline(rs, 0, &w), 60 * SEC);
	assert_int_equal(tick_at(rs, 60 * SEC - 1, &w, &acts), 0);
	assert_int_equal(tick_at(rs, 60 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_ALERT);
	assert_int_equal(acts.a[0].alarm, 42);
	assert_int_equal(acts.a[0].zone, Z_101);
	assert_int_equal(acts.a[0].sensor, S_SMOKE_101);
	assert_int_equal(acts.a[0].priority, PRIO_URGENT);
	assert_int_equal(acts.a[0].contacts[0], C_MILITIA);
	/* other transitions of the fire do not fire it */
	assert_int_equal(
	    alarm_at(rs, 70 * SEC, ALARM_FIRE, Z_101, S_SMOKE_101, 42, RAE_SILENCED, &w, &acts), 0);
	assert_int_equal(
	    alarm_at(rs, 70 * SEC, ALARM_GAS, Z_101, S_SMOKE_101, 43, RAE_RAISED, &w, &acts), 0);
	rules_free(rs);
}

static void test_acknowledging_the_fire_cancels_the_militia_call(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(militia_rule, &d);
	w.alarm[ALARM_FIRE][Z_101] = RULES_ALARM_ACTIVE;
	alarm_at(rs, 0, ALARM_FIRE, Z_101, S_SMOKE_101, 42, RAE_RAISED, &w, &acts);
	/* a fire in another zone waits on its own */
	w.alarm[ALARM_FIRE][Z_204] = RULES_ALARM_ACTIVE;
	alarm_at(rs, 10 * SEC, ALARM_FIRE, Z_204, S_SMOKE_204, 44, RAE_RAISED, &w, &acts);
	w.alarm[ALARM_FIRE][Z_101] |= RULES_ALARM_ACKED;
	assert_int_equal(
	    alarm_at(rs, 30 * SEC, ALARM_FIRE, Z_101, S_SMOKE_101, 42, RAE_ACKNOWLEDGED, &w, &acts),
	    0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(tick_at(rs, 60 * SEC, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(tick_at(rs, 70 * SEC, &w, &acts), 1);
	assert_int_equal(acts.a[0].alarm, 44);
	assert_int_equal(deadline(rs, 70 * SEC, &w), INT64_MAX);
	rules_free(rs);
}

static const char entry_delay_rule[] = "rule \"entry delay\"\n"
                                       "when door becomes open\n"
                                       "if mode is armed_away or mode is armed_night\n"
                                       "after 30s unless mode is disarmed\n"
                                       "then alarm intrusion \"Đột nhập: ${sensor}\"\n"
                                       "  siren on burglar for 3m\n"
                                       "end\n";

static void test_entry_delay_is_cancelled_by_disarming(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_AWAY};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(entry_delay_rule, &d);
	assert_int_equal(feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts), 1);
	assert_int_equal(acts.n, 0);
	assert_int_equal(mode_at(rs, 20 * SEC, MODE_DISARMED, &w, &acts), 0);
	assert_int_equal(tick_at(rs, 30 * SEC, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	rules_free(rs);
}

static void test_entry_delay_raises_the_alarm_when_nobody_disarms(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_NIGHT};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(entry_delay_rule, &d);
	feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	/* arming another way is no disarming */
	mode_at(rs, 10 * SEC, MODE_ARMED_AWAY, &w, &acts);
	assert_int_equal(tick_at(rs, 30 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].cls, ALARM_INTRUSION);
	assert_string_equal(acts.a[0].message, "Đột nhập: door-main");
	assert_int_equal(acts.a[0].sensor, S_DOOR_MAIN);
	assert_int_equal(acts.a[0].alarm, 0);
	assert_int_equal(acts.a[1].type, RA_SIREN_ON);
	assert_int_equal(acts.a[1].pattern, SIREN_BURGLAR);
	assert_int_equal(acts.a[1].duration_ms, 3 * MIN);
	/* disarmed: the `if` stops it at the door */
	w.mode = MODE_DISARMED;
	assert_int_equal(feed_at(rs, 40 * SEC, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts), 0);
	assert_int_equal(feed_at(rs, 50 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts), 0);
	rules_free(rs);
}

static void test_a_second_firing_while_waiting_does_not_schedule_twice(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_AWAY};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok(entry_delay_rule, &d);
	feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	feed_at(rs, 5 * SEC, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts);
	assert_int_equal(acts.n, 0); /* no cleared notice before the alarm */
	feed_at(rs, 10 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	assert_int_equal(tick_at(rs, 30 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(tick_at(rs, 40 * SEC, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	rules_free(rs);
}

static void test_a_cause_that_cleared_while_waiting_clears_after_the_alarm(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"gas\"\nwhen gas becomes detected\nafter 10s\n"
	                "then fault \"gas\"\nend\n",
	                &d);
	feed_at(rs, 0, S_GAS_KITCHEN, POINT_GAS, 1, &w, &acts);
	feed_at(rs, 5 * SEC, S_GAS_KITCHEN, POINT_GAS, 0, &w, &acts);
	assert_int_equal(acts.n, 0);
	/* the panel sees the fault, then its cause clear: a fault that
	 * clears itself, not one stuck forever */
	assert_int_equal(tick_at(rs, 10 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[1].type, RA_CLEARED);
	assert_int_equal(acts.a[1].cls, ALARM_FAULT);
	assert_int_equal(acts.a[1].sensor, S_GAS_KITCHEN);
	rules_free(rs);
}

/* ---- zones and outputs by kind ---- */

static void test_zone_kind_selects_the_sensors_of_every_zone_of_that_kind(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"smoke in a room\"\nwhen smoke in zone kind room becomes detected\n"
	                "then alarm fire\nend\n"
	                "rule \"kitchen\"\nwhen zone kind kitchen becomes detected\n"
	                "then supervisory\nend\n",
	                &d);
	assert_ndiags(&d, 0);
	/* every room, whatever its id */
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.a[0].zone, Z_101);
	assert_int_equal(feed(rs, S_SMOKE_204, POINT_SMOKE, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.a[0].zone, Z_204);
	assert_int_equal(acts.a[0].cls, ALARM_FIRE);
	/* every sensor of the kitchen, and nothing of the hall */
	assert_int_equal(feed(rs, S_GAS_KITCHEN, POINT_GAS, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.a[0].cls, ALARM_SUPERVISORY);
	assert_int_equal(acts.a[0].zone, Z_KITCHEN);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_CONTACT, 1, 0, 1, NULL, &acts), 0);
	assert_int_equal(acts.n, 0);
	rules_free(rs);
}

static void test_zone_kind_condition_looks_at_every_zone_of_that_kind(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"smoke with gas in a kitchen\"\nwhen smoke becomes detected\n"
	                "if zone kind kitchen is detected\nthen alarm fire confirmed\nend\n",
	                &d);
	assert_ndiags(&d, 0);
	assert_int_equal(feed_at(rs, 0, S_SMOKE_101, POINT_SMOKE, 1, &w, &acts), 0);
	world_set(&w, S_GAS_KITCHEN, POINT_GAS, 1);
	assert_int_equal(feed_at(rs, SEC, S_SMOKE_102, POINT_SMOKE, 1, &w, &acts), 1);
	assert_int_equal(acts.a[0].confirmed, 1);
	rules_free(rs);
}

/* A site with two valves in two zones, a relay of no zone and a siren. */
static const struct rules_site_output valves[] = {
    {.id = "siren-hall", .kind = "siren", .zone = Z_HALL},
    {.id = "valve-kitchen", .kind = "valve", .zone = Z_KITCHEN},
    {.id = "pump", .kind = "relay", .zone = -1},
    {.id = "valve-101", .kind = "valve", .zone = Z_101},
};

static void test_output_kind_drives_every_output_of_that_kind(void **state)
{
	struct rules_site s = site;
	struct diags d = {0};
	struct actions acts;
	int nerr = -1, nwarn = -1;
	struct ruleset *rs;

	(void)state;
	s.outputs = valves;
	s.noutputs = 4;
	rs = rules_compile_string("rule \"gas closes every valve\"\nwhen gas becomes detected\n"
	                          "then alarm gas; output kind valve off; notify owner \"x\"\nend\n"
	                          "rule \"kitchen valves only\"\nwhen heat becomes detected\n"
	                          "then output kind valve in zone kind kitchen off\nend\n"
	                          "rule \"one room's valve\"\nwhen panic becomes pressed\n"
	                          "then output kind valve in zone \"room-101\" on for 5s\nend\n",
	                          "t.rules", &s, on_diag, &d, &nerr, &nwarn);
	if (!rs || d.n)
		print_diags(&d);
	assert_non_null(rs);
	assert_int_equal(nerr + nwarn, 0);
	/* one action per valve, in the config's order, where the rule says */
	assert_int_equal(feed(rs, S_GAS_KITCHEN, POINT_GAS, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 4);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[1].type, RA_OUTPUT);
	assert_int_equal(acts.a[1].output, 1);
	assert_int_equal(acts.a[1].on, 0);
	assert_int_equal(acts.a[2].type, RA_OUTPUT);
	assert_int_equal(acts.a[2].output, 3);
	assert_int_equal(acts.a[2].on, 0);
	assert_int_equal(acts.a[3].type, RA_NOTIFY);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_HEAT, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].output, 1);
	assert_int_equal(feed(rs, S_PANIC_HALL, POINT_PANIC, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].output, 3);
	assert_int_equal(acts.a[0].on, 1);
	assert_int_equal(acts.a[0].duration_ms, 5 * SEC);
	rules_free(rs);
}

static void test_what_a_house_lacks_by_kind_is_a_warning_not_an_error(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	/* the test site has no exit zone, no relay, no valve in a room and
	 * no water sensor */
	rs = compile_ok("rule \"exit door\"\nwhen door in zone kind exit is open for 10m\n"
	                "then supervisory\nend\n"
	                "rule \"shop\"\nwhen zone kind shop becomes offline\nthen fault\nend\n"
	                "rule \"kitchen water\"\nwhen water in zone kind kitchen becomes "
	                "detected\nthen supervisory\nend\n"
	                "rule \"pump\"\nwhen smoke becomes detected\n"
	                "if zone kind exit is open\n"
	                "then output kind relay on; output kind valve in zone kind room off\nend\n",
	                &d);
	assert_ndiags(&d, 6);
	for (int i = 0; i < d.n; i++)
		assert_int_equal(d.severity[i], 1);
	assert_diag(&d, 0,
	            "t.rules:2:6: the site has no zone of kind \"exit\"; rule \"exit door\" can "
	            "never fire");
	assert_diag(&d, 1,
	            "t.rules:6:6: the site has no zone of kind \"shop\"; rule \"shop\" can never "
	            "fire");
	assert_diag(&d, 2,
	            "t.rules:10:6: no water sensor in a zone of kind \"kitchen\"; rule \"kitchen "
	            "water\" can never fire");
	assert_diag(&d, 3,
	            "t.rules:15:9: no zone of kind \"exit\" has a sensor that can be \"open\": "
	            "\"zone kind exit is open\" is never true");
	assert_diag(&d, 4,
	            "t.rules:16:18: the site has no relay output: \"output kind relay\" in rule "
	            "\"pump\" does nothing");
	assert_diag(&d, 5,
	            "t.rules:16:40: the site has no valve output in a zone of kind \"room\": "
	            "\"output kind valve\" in rule \"pump\" does nothing");
	/* the rule still runs: it fires, and switches nothing */
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 1, 0, 1, NULL, &acts), 0);
	rules_free(rs);
}

static void test_unknown_zone_and_output_kinds_are_errors_with_hints(void **state)
{
	struct rules_site bare = site;
	struct diags d = {0};
	int nerr = -1;

	(void)state;
	assert_int_equal(compile_bad("rule \"a\"\nwhen door in zone kind exti is open for 10m\n"
	                             "if zone kind kitchn is detected\n"
	                             "then output kind valv off; output kind off\nend\n"
	                             "rule \"b\"\nwhen zone kind \"exit\" becomes open\n"
	                             "then alarm fire\nend\n",
	                             &d),
	                 5);
	assert_diag(&d, 0,
	            "t.rules:2:24: unknown zone kind \"exti\"; did you mean \"exit\"? (zone kinds: "
	            "room, kitchen, corridor, stairs, exit, parking, shop)");
	assert_diag(&d, 1,
	            "t.rules:3:14: unknown zone kind \"kitchn\"; did you mean \"kitchen\"? (zone "
	            "kinds: room, kitchen, corridor, stairs, exit, parking, shop)");
	assert_diag(&d, 2,
	            "t.rules:4:18: unknown output kind \"valv\"; did you mean \"valve\"? (output "
	            "kinds: siren, strobe, relay, valve)");
	assert_diag(
	    &d, 3,
	    "t.rules:4:40: expected an output kind (siren, strobe, relay, valve), got \"off\"");
	assert_diag(&d, 4,
	            "t.rules:7:16: expected a zone kind (room, kitchen, corridor, stairs, exit, "
	            "parking, shop), got string \"exit\"");

	/* a site written by hand without the config's kinds: only the kinds
	 * its zones have exist */
	bare.zone_kinds = NULL;
	memset(&d, 0, sizeof(d));
	assert_null(rules_compile_string("rule \"a\"\nwhen zone kind exit becomes open\n"
	                                 "then alarm fire\nend\n",
	                                 "t.rules", &bare, on_diag, &d, &nerr, NULL));
	assert_int_equal(nerr, 1);
	assert_diag(&d, 0,
	            "t.rules:2:16: unknown zone kind \"exit\" (zone kinds: corridor, kitchen, "
	            "parking, room, stairs)");
}

static void test_shipped_model_compiles_for_a_minimal_house_with_warnings_only(void **state)
{
	/* one room, one smoke detector, no exit, no valve, no siren */
	static const struct rules_site_zone z[] = {{.id = "phong-1", .kind = "room"}};
	static const struct rules_site_sensor s[] = {
	    {.id = "khoi-1", .kind = KIND_SMOKE, .zone = 0}};
	static const char *const zk[] = {"room", "kitchen", "corridor", "stairs",
	                                 "exit", "parking", "shop",     NULL};
	static const char *const ok[] = {"siren", "strobe", "relay", "valve", NULL};
	const struct rules_site tiny = {.zones = z,
	                                .nzones = 1,
	                                .sensors = s,
	                                .nsensors = 1,
	                                .contacts = contacts,
	                                .ncontacts = NCONTACTS,
	                                .zone_kinds = zk,
	                                .output_kinds = ok};
	struct diags d = {0};
	int nerr = -1, nwarn = -1, exit_warned = 0, valve_warned = 0;
	struct ruleset *rs;
	glob_t g;

	(void)state;
	assert_int_equal(glob("rules/model/*.rules", 0, NULL, &g), 0);
	rs = rules_compile_files((const char *const *)g.gl_pathv, (int)g.gl_pathc, &tiny, on_diag,
	                         &d, &nerr, &nwarn);
	globfree(&g);
	if (!rs || nerr)
		print_diags(&d);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	assert_true(nwarn > 0);
	for (int i = 0; i < d.n && i < MAXD; i++) {
		exit_warned |= strstr(d.msg[i], "no zone of kind \"exit\"") != NULL;
		valve_warned |= strstr(d.msg[i], "no valve output") != NULL;
	}
	assert_true(exit_warned);
	assert_true(valve_warned);
	rules_free(rs);
}

static void test_unless_is_rechecked_after_a_reading(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"gas verified\"\nwhen gas becomes detected\n"
	                "after 20s unless sensor \"gas-kitchen\" is clear\n"
	                "then alarm gas; output \"valve-gas\" off\nend\n",
	                &d);
	feed_at(rs, 0, S_GAS_KITCHEN, POINT_GAS, 1, &w, &acts);
	/* a short puff: gone within the verification window */
	assert_int_equal(feed_at(rs, 5 * SEC, S_GAS_KITCHEN, POINT_GAS, 0, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	assert_int_equal(tick_at(rs, 20 * SEC, &w, &acts), 0);
	assert_int_equal(acts.n, 0); /* no alarm, and no cleared notice either */
	/* a real leak stays */
	feed_at(rs, 30 * SEC, S_GAS_KITCHEN, POINT_GAS, 1, &w, &acts);
	assert_int_equal(tick_at(rs, 50 * SEC, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[1].type, RA_OUTPUT);
	assert_int_equal(acts.a[1].output, O_VALVE_GAS);
	assert_int_equal(acts.a[1].on, 0);
	rules_free(rs);
}

static void test_cancel_stops_another_rules_delay(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_AWAY};
	struct ruleset *rs;

	(void)state;
	/* the cancelling rule comes first: names resolve at the end */
	rs = compile_ok("rule \"code entered\"\nwhen mode becomes armed_home\n"
	                "then cancel \"entry delay\"\nend\n"
	                "rule \"entry delay\"\n"
	                "when door becomes open\nafter 30s\nthen alarm intrusion\nend\n",
	                &d);
	feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
	assert_int_equal(mode_at(rs, 10 * SEC, MODE_ARMED_HOME, &w, &acts), 1);
	assert_int_equal(acts.n, 0); /* cancel is done inside, never emitted */
	assert_int_equal(tick_at(rs, 30 * SEC, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	rules_free(rs);
}

static void test_mode_and_alarm_triggers(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"armed\"\nwhen mode becomes armed_away\n"
	                "then notify owner militia \"Đã bật báo động\"; output \"siren-hall\" on "
	                "for 2s\nend\n"
	                "rule \"reset\"\nwhen alarm fire becomes reset\nthen siren off; set mode "
	                "disarmed\nend\n",
	                &d);
	assert_int_equal(mode_at(rs, 0, MODE_ARMED_AWAY, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_NOTIFY);
	assert_int_equal(acts.a[0].ncontacts, 2);
	assert_int_equal(acts.a[0].contacts[0], C_OWNER);
	assert_string_equal(acts.a[0].message, "Đã bật báo động");
	assert_int_equal(acts.a[0].sensor, -1);
	assert_int_equal(acts.a[1].type, RA_OUTPUT);
	assert_int_equal(acts.a[1].output, O_SIREN_HALL);
	assert_int_equal(acts.a[1].on, 1);
	assert_int_equal(acts.a[1].duration_ms, 2 * SEC);
	/* the same mode again is no change */
	assert_int_equal(mode_at(rs, 1, MODE_ARMED_AWAY, &w, &acts), 0);
	assert_int_equal(alarm_at(rs, 2, ALARM_FIRE, Z_HALL, -1, 7, RAE_RESET, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_SIREN_OFF);
	assert_int_equal(acts.a[0].alarm, 7);
	assert_int_equal(acts.a[0].zone, Z_HALL);
	assert_int_equal(acts.a[1].type, RA_SET_MODE);
	assert_int_equal(acts.a[1].mode, MODE_DISARMED);
	assert_int_equal(acts.a[1].alarm, 7);
	assert_int_equal(alarm_at(rs, 2, ALARM__COUNT, Z_HALL, -1, 7, RAE_RESET, &w, &acts),
	                 -EINVAL);
	assert_int_equal(alarm_at(rs, 2, ALARM_FIRE, NZONES, -1, 7, RAE_RESET, &w, &acts), -EINVAL);
	rules_free(rs);
}

/* ---- version 2: conditions ---- */

static void test_time_between_wraps_past_midnight(void **state)
{
	static const struct {
		int h, m, fires;
	} at[] = {{22, 0, 1}, {23, 30, 1}, {0, 0, 1},  {5, 59, 1},
	          {6, 0, 0},  {12, 0, 0},  {21, 59, 0}};
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"night door\"\nwhen door becomes open\n"
	                "if time between 22:00 and 06:00\nthen alarm intrusion\nend\n",
	                &d);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		w.local = local_at(2026, 3, 10, at[i].h, at[i].m);
		world_set(&w, S_DOOR_MAIN, POINT_CONTACT, 0);
		assert_int_equal(feed_at(rs, 0, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts),
		                 at[i].fires);
	}
	rules_free(rs);
}

static void test_zone_condition_is_any_sensor_of_the_zone(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"hot with gas\"\nwhen heat above 50\n"
	                "if zone \"kitchen\" is detected\nthen alarm fire\nend\n"
	                "rule \"hot without\"\nwhen heat above 50\n"
	                "if zone \"kitchen\" is not detected\nthen alarm gas\nend\n",
	                &d);
	world_set(&w, S_HEAT_KITCHEN, POINT_HEAT, 0);
	world_set(&w, S_GAS_KITCHEN, POINT_GAS, 0);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 0, 0, 60, &w, &acts), 1);
	assert_int_equal(acts.a[0].cls, ALARM_GAS);
	world_set(&w, S_GAS_KITCHEN, POINT_GAS, 1);
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 0, 0, 60, &w, &acts), 1);
	assert_int_equal(acts.a[0].cls, ALARM_FIRE);
	rules_free(rs);
}

static void test_alarm_condition_looks_at_the_firings_zone_or_the_site(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"here\"\nwhen smoke becomes detected\n"
	                "if alarm fire is active and alarm fire is not acknowledged\n"
	                "then alert owner\nend\n"
	                "rule \"anywhere\"\nwhen smoke becomes detected\n"
	                "if alarm fire in site is active\nthen alert militia\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 0);
	w.alarm[ALARM_FIRE][Z_102] = RULES_ALARM_ACTIVE;
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	assert_string_equal(rules_name(rs, acts.a[0].rule), "anywhere");
	w.alarm[ALARM_FIRE][Z_101] = RULES_ALARM_ACTIVE;
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 2);
	w.alarm[ALARM_FIRE][Z_101] |= RULES_ALARM_ACKED;
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	/* a firing without a zone (the calendar) asks about every zone */
	rules_free(rs);
	memset(&d, 0, sizeof(d));
	rs = compile_ok("rule \"daily\"\nwhen every day at 08:00\n"
	                "if alarm fire is silenced\nthen notify owner \"còi đang tắt\"\nend\n",
	                &d);
	w.local = local_at(2026, 3, 10, 7, 59);
	tick_at(rs, 0, &w, &acts);
	w.alarm[ALARM_FIRE][Z_204] = RULES_ALARM_ACTIVE | RULES_ALARM_SILENCED;
	w.local += 1 * MIN;
	assert_int_equal(tick_at(rs, 1 * MIN, &w, &acts), 1);
	rules_free(rs);
}

/* ---- version 2: actions and messages ---- */

static void test_actions_carry_their_fields(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"all\"\nwhen sensor \"panic-hall\" becomes pressed\nthen\n"
	                "  alarm panic confirmed\n"
	                "  siren on emergency for 1h30m\n"
	                "  siren on\n"
	                "  output \"valve-gas\" off for 10s\n"
	                "  set mode armed_night\n"
	                "  notify \"owner\" \"Có người nhấn nút\"\n"
	                "end\n",
	                &d);
	assert_int_equal(feed_at(rs, 0, S_PANIC_HALL, POINT_PANIC, 1, &w, &acts), 1);
	assert_int_equal(acts.n, 6);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].confirmed, 1);
	assert_null(acts.a[0].message);
	assert_int_equal(acts.a[1].duration_ms, 90 * MIN);
	assert_int_equal(acts.a[2].duration_ms, 0);
	assert_int_equal(acts.a[2].pattern, SIREN_FIRE);
	assert_int_equal(acts.a[3].type, RA_OUTPUT);
	assert_int_equal(acts.a[3].output, O_VALVE_GAS);
	assert_int_equal(acts.a[3].on, 0);
	assert_int_equal(acts.a[3].duration_ms, 10 * SEC);
	assert_int_equal(acts.a[4].type, RA_SET_MODE);
	assert_int_equal(acts.a[4].mode, MODE_ARMED_NIGHT);
	assert_int_equal(acts.a[5].type, RA_NOTIFY);
	assert_int_equal(acts.a[5].contacts[0], C_OWNER);
	assert_string_equal(acts.a[5].message, "Có người nhấn nút");
	for (int i = 0; i < acts.n; i++) {
		assert_int_equal(acts.a[i].sensor, S_PANIC_HALL);
		assert_int_equal(acts.a[i].zone, Z_HALL);
	}
	rules_free(rs);

	/* on one line, "end" right after the message */
	memset(&d, 0, sizeof(d));
	rs =
	    compile_ok("rule \"n\" when mode becomes armed_home then notify owner \"x\" end\n", &d);
	assert_int_equal(mode_at(rs, 0, MODE_ARMED_HOME, &w, &acts), 1);
	assert_int_equal(acts.a[0].ncontacts, 1);
	assert_string_equal(acts.a[0].message, "x");
	rules_free(rs);
}

static void test_messages_expand_sensor_zone_and_value(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {0};
	struct ruleset *rs;

	(void)state;
	rs = compile_ok("rule \"smoke\"\nwhen smoke becomes detected\n"
	                "then alarm fire \"Khói: ${sensor_name} (${sensor}) ở ${zone_name}, "
	                "${zone}: ${value}\"\n"
	                "  fault \"\\\"${zone}\\\" $5 ${value}${value}\"\n"
	                "end\n"
	                "rule \"hot\"\nwhen heat above 57\n"
	                "then supervisory \"Nhiệt độ ${value} °C ở ${zone_name}\"\nend\n",
	                &d);
	assert_int_equal(feed(rs, S_SMOKE_101, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	assert_int_equal(acts.n, 2);
	/* both messages of one call stay valid until the next call */
	assert_string_equal(acts.a[0].message,
	                    "Khói: Báo khói phòng 101 (smoke-101) ở Phòng 101, room-101: detected");
	assert_string_equal(acts.a[1].message, "\"room-101\" $5 detecteddetected");
	assert_int_equal(feed(rs, S_HEAT_KITCHEN, POINT_TEMPERATURE, 0, 0, 58.5, &w, &acts), 1);
	assert_string_equal(acts.a[0].message, "Nhiệt độ 58.5 °C ở Bếp chung");
	/* the sensor's id stands in for a missing name */
	assert_int_equal(feed(rs, S_SMOKE_204, POINT_SMOKE, 0, 0, 1, &w, &acts), 1);
	assert_string_equal(acts.a[0].message,
	                    "Khói: smoke-204 (smoke-204) ở Phòng 204, room-204: detected");
	rules_free(rs);
}

/* ---- version 2: errors and warnings ---- */

static void test_v2_trigger_errors_have_positions_and_hints(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"a\" when door is open for 0s then fault end\n"
	            "rule \"b\" when heat rises 8 per 40d then fault end\n"
	            "rule \"c\" when count smoke detected in site within 2m > 2 then fault end\n"
	            "rule \"d\" when every month on day 32 at 08:00 then fault end\n"
	            "rule \"e\" when every monady at 25:00 then fault end\n"
	            "rule \"f\" when alarm fier becomes rased then fault end\n"
	            "rule \"g\" when mode becomes armed_awya then fault end\n"
	            "rule \"h\" when door becomes open for 5m then fault end\n"
	            "rule \"i\" when count smok detected in hall within 2m >= 2 then fault end\n"
	            "rule \"j\" when mode is disarmed then fault end\n",
	            &d);
	assert_ndiags(&d, 13);
	assert_diag(&d, 0,
	            "t.rules:1:32: \"for 0s\": a duration must be longer than 0 (use "
	            "\"becomes\" for no hold)");
	assert_diag(&d, 1, "t.rules:2:32: \"per 40d\": a duration is at most 31 days");
	assert_diag(&d, 2,
	            "t.rules:3:54: expected \">=\" and a number of sensors after the window, got "
	            "\">\"");
	assert_diag(&d, 3, "t.rules:4:34: \"day 32\": a whole number from 1 to 31 is needed");
	assert_diag(&d, 4,
	            "t.rules:5:21: unknown period \"monady\"; did you mean \"monday\"? (every "
	            "day, every monday ... every sunday, every month on day N, every year on MONTH "
	            "N)");
	assert_diag(&d, 5, "t.rules:5:31: invalid time \"25:00\" (00:00 to 23:59)");
	assert_diag(&d, 6, "t.rules:6:21: unknown alarm class \"fier\"; did you mean \"fire\"?");
	assert_diag(&d, 7, "t.rules:6:34: unknown alarm event \"rased\"; did you mean \"raised\"?");
	assert_diag(&d, 8,
	            "t.rules:7:28: unknown mode \"armed_awya\"; did you mean \"armed_away\"?");
	assert_diag(&d, 9,
	            "t.rules:8:33: \"becomes\" is the moment of change and cannot last: write "
	            "\"is open for DURATION\"");
	assert_diag(&d, 10, "t.rules:9:21: unknown kind \"smok\"; did you mean \"smoke\"?");
	assert_diag(&d, 11,
	            "t.rules:9:38: expected \"zone\" or \"site\" after \"in\", got \"hall\"");
	assert_diag(&d, 12,
	            "t.rules:10:20: a trigger is a change: write \"mode becomes MODE\" (\"mode "
	            "is\" is a condition, after \"if\")");
}

static void test_v2_condition_delay_and_action_errors(void **state)
{
	struct diags d = {0};

	(void)state;
	compile_bad("rule \"a\"\nwhen door becomes open\n"
	            "if time between 22:00 or alarm fier is acknowlegded\n"
	            "then fault\nend\n"
	            "rule \"b\"\nwhen door becomes open\nafter 0s\nthen fault\nend\n"
	            "rule \"c\"\nwhen door becomes open\nunless mode is disarmed\nthen fault\nend\n"
	            "rule \"d\"\nwhen door becomes open\nthen\n"
	            "  output \"siren-hal\" on\n"
	            "  output siren-hall on\n"
	            "  set mode disarmd\n"
	            "  notify owner\n"
	            "  cancel \"entry dealy\"\n"
	            "  alarm fire \"${zonee} \\\\ ${sensor\"\n"
	            "end\n"
	            "rule \"entry delay\" when door becomes open after 30s then fault end\n"
	            "rule \"e\" when door becomes open if zone \"parking\" is open "
	            "and alarm fire is actve then fault end\n",
	            &d);
	assert_ndiags(&d, 12);
	/* a syntax error skips the rest of the rule: "fier" is not reached */
	assert_diag(&d, 0, "t.rules:3:23: expected \"and\" after the first time, got \"or\"");
	assert_diag(&d, 1,
	            "t.rules:8:7: \"after 0s\": a duration must be longer than 0 (leave "
	            "\"after\" out for no delay)");
	assert_diag(&d, 2,
	            "t.rules:13:1: \"unless\" belongs to a delay: after DURATION unless "
	            "CONDITION");
	assert_diag(&d, 3,
	            "t.rules:19:10: unknown output \"siren-hal\"; did you mean \"siren-hall\"?");
	assert_diag(&d, 4,
	            "t.rules:20:10: expected an output id in quotes, got \"siren-hall\" (write "
	            "output \"siren-hall\")");
	assert_diag(&d, 5, "t.rules:21:12: unknown mode \"disarmd\"; did you mean \"disarmed\"?");
	assert_diag(&d, 6,
	            "t.rules:22:15: expected the message in quotes after the contacts, got end "
	            "of line");
	assert_diag(&d, 7,
	            "t.rules:23:10: unknown rule \"entry dealy\"; did you mean \"entry delay\"?");
	assert_diag(&d, 8,
	            "t.rules:24:15: unknown \"${zonee}\" in message; did you mean \"zone\"? "
	            "(names: sensor, sensor_name, zone, zone_name, value)");
	assert_diag(&d, 9, "t.rules:24:27: unterminated \"${\" in message (write ${name})");
	assert_diag(&d, 10,
	            "t.rules:27:41: zone \"parking\" has no sensors: the condition can never be "
	            "evaluated");
	assert_diag(&d, 11,
	            "t.rules:27:77: unknown alarm state \"actve\"; did you mean \"active\"?");
}

static void test_warnings_for_rules_that_can_never_fire(void **state)
{
	struct diags d = {0};
	int nerr = -1, nwarn = -1;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_string(
	    "rule \"nine\"\nwhen count smoke detected in site within 2m >= 9\nthen alarm "
	    "fire\nend\n"
	    "rule \"co\"\nwhen count co detected in site within 2m >= 2\nthen alarm gas\nend\n"
	    "rule \"never\"\nwhen door becomes open\nif time between 08:00 and 08:00\n"
	    "then alarm intrusion\nend\n"
	    "rule \"c\"\nwhen mode becomes disarmed\nthen cancel \"nine\"\nend\n"
	    "rule \"ok\"\nwhen count smoke detected in site within 2m >= 8\nthen alarm fire\nend\n"
	    "rule \"last day\"\nwhen every month on day 31 at 08:00\nthen notify owner "
	    "\"x\"\nend\n",
	    "t.rules", &site, on_diag, &d, &nerr, &nwarn);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	assert_int_equal(nwarn, 4);
	assert_diag(&d, 0,
	            "t.rules:2:12: count needs 9 smoke sensors but the site has 8; rule "
	            "\"nine\" can never fire");
	assert_diag(&d, 1, "t.rules:6:12: the site has no co sensor; rule \"co\" can never fire");
	assert_diag(&d, 2,
	            "t.rules:11:17: \"time between 08:00 and 08:00\" is never true (the end is "
	            "not part of the window)");
	assert_diag(&d, 3,
	            "t.rules:16:13: rule \"nine\" has no delay (\"after\"): cancelling it does "
	            "nothing");
	for (int i = 0; i < d.n; i++)
		assert_int_equal(d.severity[i], 1);
	rules_free(rs);
}

static void test_heap_stays_small_when_delays_are_cancelled_all_day(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct world w = {.mode = MODE_ARMED_AWAY};
	struct ruleset *rs;
	int fired = 0;

	(void)state;
	rs =
	    compile_ok("rule \"open long\"\nwhen door is open for 1h\nthen supervisory\nend\n", &d);
	/* a door opened and closed every 10 s for a day: each opening sets a
	 * timer an hour ahead, each closing cancels it */
	for (int i = 0; i < 8640; i++) {
		fired += feed_at(rs, i * 10 * SEC, S_DOOR_MAIN, POINT_CONTACT, 1, &w, &acts);
		fired +=
		    feed_at(rs, i * 10 * SEC + 5 * SEC, S_DOOR_MAIN, POINT_CONTACT, 0, &w, &acts);
	}
	assert_int_equal(fired, 0);
	/* cancelled timers are dropped, not kept for an hour each */
	assert_true(rs->nheap < 200);
	assert_int_equal(deadline(rs, 0, &w), INT64_MAX);
	rules_free(rs);
}

/* ---- rules/README.md: every ```rules block compiles, every ```rules-error
 * block fails ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

static void test_every_readme_example_behaves_as_documented(void **state)
{
	char *md = slurp("rules/README.md"), *line, *text;
	int lineno = 0, nok = 0, nbad = 0;
	size_t cap;

	(void)state;
	assert_non_null(md);
	cap = strlen(md) + 1;
	text = malloc(cap);
	assert_non_null(text);
	line = md;
	while (*line) {
		char *eol = strchr(line, '\n');
		size_t len = eol ? (size_t)(eol - line) : strlen(line);
		int is_ok = len == 8 && strncmp(line, "```rules", 8) == 0;
		int is_bad = len == 14 && strncmp(line, "```rules-error", 14) == 0;
		lineno++;
		line += len + (eol != NULL);
		if (!is_ok && !is_bad)
			continue;

		/* Blank lines first, so that messages carry README line numbers. */
		int start = lineno;
		size_t n = 0;
		for (int i = 0; i < start; i++)
			text[n++] = '\n';
		while (*line) {
			eol = strchr(line, '\n');
			len = eol ? (size_t)(eol - line) : strlen(line);
			lineno++;
			if (len == 3 && strncmp(line, "```", 3) == 0) {
				line += len + (eol != NULL);
				break;
			}
			if (n + len + 2 >= cap) {
				cap = (n + len + 2) * 2;
				text = realloc(text, cap);
				assert_non_null(text);
			}
			memcpy(text + n, line, len);
			n += len;
			text[n++] = '\n';
			line += len + (eol != NULL);
		}
		text[n] = '\0';

		struct diags d = {0};
		int nerr = -1;
		struct ruleset *rs =
		    rules_compile_string(text, "rules/README.md", &site, on_diag, &d, &nerr, NULL);
		if (is_ok && !rs) {
			fprintf(stderr, "README block at line %d does not compile:\n", start);
			print_diags(&d);
		}
		if (is_bad && rs)
			fprintf(stderr, "README rules-error block at line %d compiles\n", start);
		assert_true(is_ok ? rs != NULL : rs == NULL);
		if (is_bad)
			assert_true(nerr > 0);
		rules_free(rs);
		if (is_ok)
			nok++;
		else
			nbad++;
	}
	/* the README has examples of both sorts */
	assert_true(nok >= 5);
	assert_true(nbad >= 1);
	free(text);
	free(md);
}

/* ---- the neighbour group ---- */

static int neighbour_at(struct ruleset *rs, int64_t now, int nb, enum sh_alarm_class cls,
                        enum rules_alarm_event ev, const char *addr, struct world *w,
                        struct actions *acts)
{
	struct rules_view view = world_view(w);

	memset(acts, 0, sizeof(*acts));
	return rules_eval_neighbour(rs, nb, cls, ev, addr, now, &view, on_action, acts);
}

static void test_neighbour_fire_fires_with_its_id_and_address(void **state)
{
	struct diags d = {0};
	struct world w = {0};
	struct actions acts;
	struct ruleset *rs = compile_ok("rule \"a neighbour's fire wakes the row\"\n"
	                                "when neighbour fire becomes raised\n"
	                                "then\n"
	                                "  siren on emergency for 30s\n"
	                                "  notify owner \"Cháy nhà bên ${neighbour}: "
	                                "${neighbour_address}\"\n"
	                                "end\n",
	                                &d);

	(void)state;
	assert_int_equal(neighbour_at(rs, 1000, 1, ALARM_FIRE, RAE_RAISED, "12 Lê Lợi", &w, &acts),
	                 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_SIREN_ON);
	assert_int_equal(acts.a[0].pattern, SIREN_EMERGENCY);
	assert_int_equal(acts.a[0].duration_ms, 30000);
	assert_int_equal(acts.a[0].sensor, -1);
	assert_int_equal(acts.a[0].zone, -1);
	assert_int_equal(acts.a[0].alarm, 0);
	assert_int_equal(acts.a[1].type, RA_NOTIFY);
	assert_string_equal(acts.a[1].message, "Cháy nhà bên nt-site-3: 12 Lê Lợi");
	/* only what the trigger names: not panic, not cleared */
	assert_int_equal(neighbour_at(rs, 2000, 1, ALARM_PANIC, RAE_RAISED, NULL, &w, &acts), 0);
	assert_int_equal(neighbour_at(rs, 3000, 0, ALARM_FIRE, RAE_CLEARED, NULL, &w, &acts), 0);
	assert_int_equal(acts.n, 0);
	/* a neighbour without an address in its feed */
	assert_int_equal(neighbour_at(rs, 4000, 0, ALARM_FIRE, RAE_RAISED, NULL, &w, &acts), 1);
	assert_string_equal(acts.a[1].message, "Cháy nhà bên nt-site-2: -");
	/* out of range is refused, not a crash */
	assert_int_equal(neighbour_at(rs, 5000, 2, ALARM_FIRE, RAE_RAISED, NULL, &w, &acts),
	                 -EINVAL);
	/* a sensor's firing has no neighbour */
	rules_free(rs);
}

static void test_delayed_neighbour_rule_keeps_its_neighbour(void **state)
{
	struct diags d = {0};
	struct world w = {0};
	struct actions acts;
	struct ruleset *rs = compile_ok("rule \"tell again\"\n"
	                                "when neighbour panic becomes raised\n"
	                                "after 60s\n"
	                                "then notify owner \"SOS ${neighbour}\"\n"
	                                "end\n",
	                                &d);

	(void)state;
	assert_int_equal(neighbour_at(rs, 0, 0, ALARM_PANIC, RAE_RAISED, "a", &w, &acts), 1);
	assert_int_equal(neighbour_at(rs, 1000, 1, ALARM_PANIC, RAE_RAISED, "b", &w, &acts), 1);
	assert_int_equal(acts.n, 0);
	assert_int_equal(tick_at(rs, 60000, &w, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_string_equal(acts.a[0].message, "SOS nt-site-2");
	assert_int_equal(tick_at(rs, 61000, &w, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_string_equal(acts.a[0].message, "SOS nt-site-3");
	rules_free(rs);
}

static void test_neighbour_trigger_errors_say_what_to_write(void **state)
{
	struct diags d = {0};

	(void)state;
	assert_int_equal(
	    compile_bad("rule \"a\"\nwhen neighbour gas becomes raised\nthen siren on fire\nend\n",
	                &d),
	    1);
	assert_diag(&d, 0,
	            "t.rules:2:16: a neighbour's feed is followed for fire and panic only: write "
	            "\"neighbour fire becomes EVENT\" or \"neighbour panic becomes EVENT\"");
	memset(&d, 0, sizeof(d));
	assert_int_equal(
	    compile_bad("rule \"a\"\nwhen neighbour fire is raised\nthen siren on fire\nend\n", &d),
	    1);
	assert_diag(&d, 0,
	            "t.rules:2:21: a trigger is a change: write \"neighbour fire becomes EVENT\"");
	memset(&d, 0, sizeof(d));
	assert_int_equal(
	    compile_bad("rule \"a\"\nwhen neighbour fire becomes burning\nthen siren on "
	                "fire\nend\n",
	                &d),
	    1);
	assert_true(strstr(d.msg[0], "t.rules:2:29:") != NULL);
	memset(&d, 0, sizeof(d));
	assert_true(
	    compile_bad("rule \"a\"\nwhen neighbor fire becomes raised\nthen siren on fire\nend\n",
	                &d) >= 1);
	assert_true(strstr(d.msg[0], "did you mean \"neighbour\"") != NULL);
}

static void test_neighbour_rule_on_a_site_without_a_group_is_a_warning(void **state)
{
	struct diags d = {0};
	struct rules_site alone = site;
	int nerr = -1, nwarn = -1;
	struct ruleset *rs;

	(void)state;
	alone.neighbours = NULL;
	alone.nneighbours = 0;
	rs = rules_compile_string("rule \"row\"\nwhen neighbour fire becomes raised\n"
	                          "then siren on emergency for 30s\nend\n",
	                          "t.rules", &alone, on_diag, &d, &nerr, &nwarn);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	assert_int_equal(nwarn, 1);
	assert_diag(&d, 0,
	            "t.rules:1:1: the site lists no neighbours; rule \"row\" can never fire");
	rules_free(rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shipped_model_compiles_clean_against_the_demo_house),
	    cmocka_unit_test(test_zone_kind_selects_the_sensors_of_every_zone_of_that_kind),
	    cmocka_unit_test(test_zone_kind_condition_looks_at_every_zone_of_that_kind),
	    cmocka_unit_test(test_output_kind_drives_every_output_of_that_kind),
	    cmocka_unit_test(test_what_a_house_lacks_by_kind_is_a_warning_not_an_error),
	    cmocka_unit_test(test_unknown_zone_and_output_kinds_are_errors_with_hints),
	    cmocka_unit_test(test_shipped_model_compiles_for_a_minimal_house_with_warnings_only),
	    cmocka_unit_test(
	        test_model_without_the_optional_valve_compiles_for_a_house_without_one),
	    cmocka_unit_test(test_unknown_kind_gets_a_hint_with_exact_position),
	    cmocka_unit_test(test_unknown_words_get_hints),
	    cmocka_unit_test(test_three_errors_in_one_file_give_three_diagnostics),
	    cmocka_unit_test(test_missing_end_names_the_rule),
	    cmocka_unit_test(test_duplicate_rule_name_points_at_the_first),
	    cmocka_unit_test(test_errors_of_all_files_come_in_one_pass),
	    cmocka_unit_test(test_kind_absent_from_site_is_only_a_warning),
	    cmocka_unit_test(test_lexer_errors_have_exact_positions),
	    cmocka_unit_test(test_syntax_errors_say_what_was_expected),
	    cmocka_unit_test(test_detected_on_a_kind_without_it),
	    cmocka_unit_test(test_lexer_reads_durations_numbers_and_ids),
	    cmocka_unit_test(test_becomes_fires_on_the_edge_only),
	    cmocka_unit_test(test_leaving_the_state_emits_only_cleared),
	    cmocka_unit_test(test_panic_every_press_counts_and_never_clears),
	    cmocka_unit_test(test_detected_means_the_kinds_primary_point),
	    cmocka_unit_test(test_threshold_fires_once_with_hysteresis),
	    cmocka_unit_test(test_threshold_without_clear_rearms_at_the_threshold),
	    cmocka_unit_test(test_first_reading_after_reload_is_not_a_new_crossing),
	    cmocka_unit_test(test_battery_below_with_hysteresis),
	    cmocka_unit_test(test_condition_on_mode_and_another_sensor),
	    cmocka_unit_test(test_unknown_point_makes_is_false_and_is_not_true),
	    cmocka_unit_test(test_and_binds_tighter_than_or),
	    cmocka_unit_test(test_rules_fire_in_source_order_with_their_actions),
	    cmocka_unit_test(test_a_reading_visits_only_rules_selecting_its_sensor),
	    cmocka_unit_test(test_strings_keep_vietnamese_and_escapes),
	    cmocka_unit_test(test_contacts_may_be_quoted_and_are_limited),
	    cmocka_unit_test(test_eval_rejects_bad_arguments),
	    cmocka_unit_test(test_empty_text_is_an_empty_rule_set),
	    cmocka_unit_test(test_rises_fires_at_8_per_minute_but_not_at_8_per_3_minutes),
	    cmocka_unit_test(
	        test_rises_rearms_when_the_rise_falls_below_half_even_without_readings),
	    cmocka_unit_test(test_rises_keeps_the_lowest_reading_when_readings_come_fast),
	    cmocka_unit_test(test_is_open_for_fires_after_exactly_the_duration),
	    cmocka_unit_test(test_is_open_for_does_not_fire_when_the_door_closed_in_time),
	    cmocka_unit_test(test_a_hold_that_completed_is_not_undone_by_a_late_tick),
	    cmocka_unit_test(test_offline_for_an_hour_is_a_fault_per_sensor),
	    cmocka_unit_test(test_a_sensor_already_offline_at_a_reload_still_gets_its_hour),
	    cmocka_unit_test(test_count_fires_for_two_distinct_detectors_within_2m),
	    cmocka_unit_test(test_count_does_not_fire_for_the_same_detector_twice),
	    cmocka_unit_test(test_count_does_not_fire_for_two_detectors_3m_apart),
	    cmocka_unit_test(test_count_rearms_and_clears_when_detectors_clear),
	    cmocka_unit_test(test_count_in_zone_counts_each_zone_apart),
	    cmocka_unit_test(test_every_day_at_0800_fires_once_when_local_time_crosses_it),
	    cmocka_unit_test(test_every_day_does_not_fire_after_a_5h_forward_jump),
	    cmocka_unit_test(test_every_day_does_not_fire_after_a_backward_jump),
	    cmocka_unit_test(test_every_weekday_fires_on_that_day_only),
	    cmocka_unit_test(test_every_month_on_day_31_fires_on_the_last_day_of_february),
	    cmocka_unit_test(test_every_year_fires_once_a_year_on_its_date),
	    cmocka_unit_test(test_mode_held_for_a_duration_is_an_exit_delay),
	    cmocka_unit_test(test_a_mode_unchanged_since_loading_counts_as_held),
	    cmocka_unit_test(test_alert_every_carries_the_repeat_interval),
	    cmocka_unit_test(test_calendar_needs_a_clock),
	    cmocka_unit_test(test_unacknowledged_fire_calls_the_militia_with_the_alarm_id),
	    cmocka_unit_test(test_acknowledging_the_fire_cancels_the_militia_call),
	    cmocka_unit_test(test_entry_delay_is_cancelled_by_disarming),
	    cmocka_unit_test(test_entry_delay_raises_the_alarm_when_nobody_disarms),
	    cmocka_unit_test(test_a_second_firing_while_waiting_does_not_schedule_twice),
	    cmocka_unit_test(test_a_cause_that_cleared_while_waiting_clears_after_the_alarm),
	    cmocka_unit_test(test_unless_is_rechecked_after_a_reading),
	    cmocka_unit_test(test_cancel_stops_another_rules_delay),
	    cmocka_unit_test(test_mode_and_alarm_triggers),
	    cmocka_unit_test(test_time_between_wraps_past_midnight),
	    cmocka_unit_test(test_zone_condition_is_any_sensor_of_the_zone),
	    cmocka_unit_test(test_alarm_condition_looks_at_the_firings_zone_or_the_site),
	    cmocka_unit_test(test_actions_carry_their_fields),
	    cmocka_unit_test(test_messages_expand_sensor_zone_and_value),
	    cmocka_unit_test(test_v2_trigger_errors_have_positions_and_hints),
	    cmocka_unit_test(test_v2_condition_delay_and_action_errors),
	    cmocka_unit_test(test_warnings_for_rules_that_can_never_fire),
	    cmocka_unit_test(test_heap_stays_small_when_delays_are_cancelled_all_day),
	    cmocka_unit_test(test_every_readme_example_behaves_as_documented),
	    cmocka_unit_test(test_neighbour_fire_fires_with_its_id_and_address),
	    cmocka_unit_test(test_delayed_neighbour_rule_keeps_its_neighbour),
	    cmocka_unit_test(test_neighbour_trigger_errors_say_what_to_write),
	    cmocka_unit_test(test_neighbour_rule_on_a_site_without_a_group_is_a_warning),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
