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

#include <cmocka.h>

#include "gateway/config.h"
#include "rules/rules.h"
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

static struct config_zone zones[NZONES] = {
    {.id = "hall", .name = "Sảnh tầng trệt", .floor = 1, .kind = "corridor"},
    {.id = "kitchen", .name = "Bếp chung", .floor = 1, .kind = "kitchen"},
    {.id = "parking", .name = "Nhà xe", .floor = 1, .kind = "parking"},
    {.id = "room-101", .name = "Phòng 101", .floor = 1, .kind = "room"},
    {.id = "room-102", .name = "Phòng 102", .floor = 1, .kind = "room"},
    {.id = "room-103", .name = "Phòng 103", .floor = 1, .kind = "room"},
    {.id = "room-104", .name = "Phòng 104", .floor = 1, .kind = "room"},
    {.id = "room-201", .name = "Phòng 201", .floor = 2, .kind = "room"},
    {.id = "room-202", .name = "Phòng 202", .floor = 2, .kind = "room"},
    {.id = "room-203", .name = "Phòng 203", .floor = 2, .kind = "room"},
    {.id = "room-204", .name = "Phòng 204", .floor = 2, .kind = "room"},
    {.id = "stairs", .name = "Cầu thang", .floor = 2, .kind = "stairs"},
};

static struct config_sensor sensors[NSENSORS] = {
    {.id = "smoke-101", .kind = KIND_SMOKE, .zone = Z_101},
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

static struct config_contact contacts[NCONTACTS] = {
    {.id = "militia", .via = VIA_UPSTREAM},
    {.id = "owner", .via = VIA_SMS, .phone = "+84909123456"},
};

static struct config site_config = {
    .zones = zones,
    .nzones = NZONES,
    .sensors = sensors,
    .nsensors = NSENSORS,
    .contacts = contacts,
    .ncontacts = NCONTACTS,
};

static const struct rules_site site = {.config = &site_config};

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

/* The world for conditions: a mode and known/unknown point values. */
struct world {
	enum sh_mode mode;
	int known[NSENSORS][POINT__COUNT];
	double value[NSENSORS][POINT__COUNT];
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

static void world_set(struct world *w, int sensor, enum sh_point p, double v)
{
	w->known[sensor][p] = 1;
	w->value[sensor][p] = v;
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
	struct rules_view view = {.ctx = w, .point = world_point, .mode = world_mode};

	memset(acts, 0, sizeof(*acts));
	return rules_eval(rs, sensor, p, had_old, old, new, 0, w ? &view : NULL, on_action, acts);
}

/* ---- the shipped model ---- */

static const char *const model_files[] = {"rules/model/fire.rules", "rules/model/gas.rules",
                                          "rules/model/panic.rules", "rules/model/faults.rules"};

static void test_shipped_model_compiles_clean_for_a_boarding_house(void **state)
{
	struct diags d = {0};
	int nerr = -1, nwarn = -1, co = 0;
	struct ruleset *rs;
	glob_t g;

	(void)state;
	/* every model file, including ones added after this test */
	assert_int_equal(glob("rules/model/*.rules", 0, NULL, &g), 0);
	assert_true(g.gl_pathc >= 4);
	rs = rules_compile_files((const char *const *)g.gl_pathv, (int)g.gl_pathc, &site, on_diag,
	                         &d, &nerr, &nwarn);
	if (!rs || nerr)
		print_diags(&d);
	globfree(&g);
	assert_non_null(rs);
	assert_int_equal(nerr, 0);
	/* warnings only for kinds this house lacks: it has no CO detector */
	for (int i = 0; i < d.n; i++) {
		assert_int_equal(d.severity[i], 1);
		assert_non_null(strstr(d.msg[i], "can never fire"));
		co += strstr(d.msg[i], "rules/model/gas.rules:") &&
		      strstr(d.msg[i], "the site has no co sensor");
	}
	assert_int_equal(co, 1);
	assert_int_equal(nwarn, d.n);
	rules_free(rs);

	memset(&d, 0, sizeof(d));
	rs = rules_compile_files(model_files, 4, &site, on_diag, &d, &nerr, &nwarn);
	assert_non_null(rs);
	assert_int_equal(rules_count(rs), 9);
	assert_string_equal(rules_name(rs, 0), "smoke raises the fire alarm");
	rules_free(rs);
}

static void test_model_smoke_raises_fire_alarm_siren_and_alerts(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_files(model_files, 4, &site, on_diag, &d, NULL, NULL);
	assert_non_null(rs);
	assert_int_equal(feed(rs, S_SMOKE_201, POINT_SMOKE, 1, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 3);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].cls, ALARM_FIRE);
	assert_int_equal(acts.a[0].sensor, S_SMOKE_201);
	assert_int_equal(acts.a[0].zone, Z_201);
	assert_string_equal(acts.a[0].message, "Phát hiện khói");
	assert_string_equal(rules_name(rs, acts.a[0].rule), "smoke raises the fire alarm");
	assert_int_equal(acts.a[1].type, RA_SIREN_ON);
	assert_string_equal(acts.a[1].pattern, "fire");
	assert_int_equal(acts.a[2].type, RA_ALERT);
	assert_int_equal(acts.a[2].ncontacts, 2);
	assert_int_equal(acts.a[2].contacts[0], C_MILITIA);
	assert_int_equal(acts.a[2].contacts[1], C_OWNER);
	assert_int_equal(acts.a[2].priority, PRIO_DEFAULT);
	rules_free(rs);
}

static void test_model_panic_is_silent_and_urgent(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_files(model_files, 4, &site, on_diag, &d, NULL, NULL);
	assert_non_null(rs);
	assert_int_equal(feed(rs, S_PANIC_STAIRS, POINT_PANIC, 0, 0, 1, NULL, &acts), 1);
	assert_int_equal(acts.n, 2);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].cls, ALARM_PANIC);
	assert_int_equal(acts.a[0].zone, Z_STAIRS);
	for (int i = 0; i < acts.n; i++)
		assert_int_not_equal(acts.a[i].type, RA_SIREN_ON);
	assert_int_equal(acts.a[1].type, RA_ALERT);
	assert_int_equal(acts.a[1].ncontacts, 1);
	assert_int_equal(acts.a[1].contacts[0], C_MILITIA);
	assert_int_equal(acts.a[1].priority, PRIO_URGENT);
	rules_free(rs);
}

static void test_model_offline_fault_clears_itself_when_back_online(void **state)
{
	struct diags d = {0};
	struct actions acts;
	struct ruleset *rs;

	(void)state;
	rs = rules_compile_files(model_files, 4, &site, on_diag, &d, NULL, NULL);
	assert_non_null(rs);
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_ONLINE, 1, 1, 0, NULL, &acts), 1);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_ALARM);
	assert_int_equal(acts.a[0].cls, ALARM_FAULT);
	assert_string_equal(acts.a[0].message, "Mất kết nối cảm biến");
	assert_int_equal(feed(rs, S_DOOR_MAIN, POINT_ONLINE, 1, 0, 1, NULL, &acts), 0);
	assert_int_equal(acts.n, 1);
	assert_int_equal(acts.a[0].type, RA_CLEARED);
	assert_int_equal(acts.a[0].cls, ALARM_FAULT);
	assert_string_equal(rules_name(rs, acts.a[0].rule), "sensor offline is a fault");
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
	fputs("rule \"smoke raises the fire alarm\"\n"
	      "when smoke becomes detected\nthen alarm fire\nend\n"
	      "rule \"x\" when gas becomes open then alert end\n",
	      f);
	fclose(f);
	assert_null(rules_compile_files(files, 3, &site, on_diag, &d, &nerr, &nwarn));
	remove(bad);
	assert_int_equal(nerr, 3);
	assert_diag(&d, 0, "/nonexistent/a.rules: cannot read: No such file or directory");
	snprintf(want, sizeof(want),
	         "%s:1:6: duplicate rule name \"smoke raises the fire alarm\"; first defined at "
	         "rules/model/fire.rules:7:1",
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
	struct config_sensor gen[] = {
	    {.id = "io-1", .kind = KIND_GENERIC, .zone = Z_HALL},
	};
	struct config cfg = {.zones = zones, .nzones = NZONES, .sensors = gen, .nsensors = 1};
	struct rules_site gsite = {.config = &cfg};
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
	    {TOK_EOF, "", 0, 0},
	};
	static const char text[] = "30s 5m 1h30m 2d 500ms -3.25 57 # comment\n\n"
	                           "room-101 _x>=;(\"Mất \\\"kết\\\" nối\")";
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
	assert_string_equal(acts.a[1].pattern, "burglar");
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
	assert_string_equal(acts.a[0].pattern, "emergency");
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shipped_model_compiles_clean_for_a_boarding_house),
	    cmocka_unit_test(test_model_smoke_raises_fire_alarm_siren_and_alerts),
	    cmocka_unit_test(test_model_panic_is_silent_and_urgent),
	    cmocka_unit_test(test_model_offline_fault_clears_itself_when_back_online),
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
	    cmocka_unit_test(test_every_readme_example_behaves_as_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
