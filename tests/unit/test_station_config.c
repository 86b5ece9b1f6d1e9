/*
 * test_station_config.c: the station's config loader (station/sconfig.h):
 * a full file, the defaults, every kind of mistake reported with
 * FILE:LINE:COL in one pass, unknown keys with a suggestion, and a password
 * in a file others can read.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "common/cfgload.h"
#include "station/sconfig.h"

struct fx {
	char dir[64];
	char path[128];
	char *out; /* the messages */
	size_t outlen;
	struct sconfig *c;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/sh-sconfig-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/station.json", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	sconfig_free(f->c);
	free(f->out);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void put(struct fx *f, const char *name, const char *text, int mode)
{
	char p[192];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", f->dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(p, (mode_t)mode), 0);
}

/* Load the file station.json holding text; returns the error count. */
static int load(struct fx *f, const char *text, int mode)
{
	FILE *errs;
	int n;

	put(f, "station.json", text, mode);
	free(f->out);
	f->out = NULL;
	sconfig_free(f->c);
	f->c = NULL;
	errs = open_memstream(&f->out, &f->outlen);
	assert_non_null(errs);
	n = sconfig_load(f->path, errs, &f->c);
	fclose(errs);
	return n;
}

/* The message about path must be there, at line:col, saying what. */
static void said(struct fx *f, int line, int col, const char *path, const char *what)
{
	char want[256];

	snprintf(want, sizeof(want), "%s:%d:%d: %s%s", f->path, line, col, path, *path ? ": " : "");
	for (const char *p = f->out; p && (p = strstr(p, want)); p++) {
		const char *eol = strchr(p, '\n');
		const char *w = strstr(p, what);
		if (w && (!eol || w < eol))
			return;
	}
	fail_msg("no \"%s...%s\" in:\n%s", want, what, f->out ? f->out : "");
}

static void test_a_full_config_loads_as_written(void **state)
{
	struct fx *f = *state;

	put(f, "ca.pem", "ca", 0644);
	put(f, "cert.pem", "cert", 0644);
	put(f, "key.pem", "key", 0600);
	assert_int_equal(
	    load(f,
	         "{\"broker\": {\"host\": \"mqtt.phuockien.vn\", \"port\": 8884, \"prefix\": "
	         "\"hcm/nb\","
	         " \"client_id\": \"station-1\", \"username\": \"station\", \"password\": "
	         "\"s3cret\","
	         " \"keepalive_s\": 60, \"tls\": true, \"cafile\": \"ca.pem\"},\n"
	         " \"database\": \"data/station.db\",\n"
	         " \"http\": {\"listen\": \"[::1]:8443\", \"cert\": \"cert.pem\", \"key\": "
	         "\"key.pem\","
	         " \"language\": \"en\", \"session_idle_s\": 3600},\n"
	         " \"lost_contact_s\": 240,\n"
	         " \"groups\": [{\"id\": \"to-1\", \"name\": \"Tổ dân phố 1\", \"lost_contact_s\": "
	         "300}],\n"
	         " \"sites\": [{\"id\": \"nt-minhson-ap3\", \"name\": \"Nhà trọ Minh Sơn\","
	         " \"address\": \"Ấp 3\", \"phone\": \"+84901234567\","
	         " \"geo\": {\"lat\": 10.64, \"lon\": 106.72}, \"group\": \"to-1\"},"
	         " {\"id\": \"nt-b\"}],\n"
	         " \"log_level\": \"debug\"}\n",
	         0600),
	    0);
	assert_non_null(f->c);
	assert_string_equal(f->c->broker.host, "mqtt.phuockien.vn");
	assert_int_equal(f->c->broker.port, 8884);
	assert_string_equal(f->c->broker.prefix, "hcm/nb");
	assert_string_equal(f->c->broker.client_id, "station-1");
	assert_string_equal(f->c->broker.password, "s3cret");
	assert_int_equal(f->c->broker.keepalive_s, 60);
	assert_int_equal(f->c->broker.tls, 1);
	assert_non_null(strstr(f->c->broker.cafile, f->dir));
	char db[192];
	snprintf(db, sizeof(db), "%s/data/station.db", f->dir);
	assert_string_equal(f->c->database, db);
	assert_string_equal(f->c->http.listen, "[::1]:8443");
	assert_non_null(f->c->http.cert);
	assert_non_null(f->c->http.key);
	assert_string_equal(f->c->http.language, "en");
	assert_int_equal(f->c->http.session_idle_s, 3600);
	assert_int_equal(f->c->lost_contact_s, 240);
	assert_int_equal(f->c->ngroups, 1);
	assert_int_equal(sconfig_group(f->c, "to-1")->lost_contact_s, 300);
	assert_string_equal(sconfig_group(f->c, "to-1")->name, "Tổ dân phố 1");
	assert_int_equal(f->c->nsites, 2);
	const struct sconfig_site *s = sconfig_site(f->c, "nt-minhson-ap3");
	assert_non_null(s);
	assert_string_equal(s->name, "Nhà trọ Minh Sơn");
	assert_string_equal(s->group, "to-1");
	assert_int_equal(s->has_geo, 1);
	assert_true(s->lat == 10.64 && s->lon == 106.72);
	assert_null(sconfig_site(f->c, "nt-b")->name);
	assert_null(sconfig_site(f->c, "nt-c"));
	assert_int_equal(f->c->log_level, LOG_DEBUG);
}

static void test_a_minimal_config_gets_the_defaults(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f, "{\"database\": \"/var/lib/x/station.db\"}", 0644), 0);
	assert_string_equal(f->c->broker.host, "127.0.0.1");
	assert_int_equal(f->c->broker.port, 1883);
	assert_string_equal(f->c->broker.prefix, "safehouse");
	assert_string_equal(f->c->broker.client_id, "safehouse-station");
	assert_int_equal(f->c->broker.keepalive_s, 30);
	assert_int_equal(f->c->broker.tls, 0);
	assert_string_equal(f->c->database, "/var/lib/x/station.db");
	assert_string_equal(f->c->http.listen, "127.0.0.1:8090");
	assert_null(f->c->http.cert);
	assert_string_equal(f->c->http.language, "vi");
	assert_int_equal(f->c->http.session_idle_s, 43200);
	assert_int_equal(f->c->lost_contact_s, 0);
	assert_int_equal(f->c->nsites, 0);
	assert_int_equal(f->c->log_level, LOG_INFO);
	/* TLS moves the default port */
	assert_int_equal(load(f, "{\"database\": \"s.db\", \"broker\": {\"tls\": true}}", 0644), 0);
	assert_int_equal(f->c->broker.port, 8883);
#ifdef SH_WITH_POSTGRESQL
	/* a PostgreSQL URL is kept as it is */
	assert_int_equal(load(f, "{\"database\": \"postgresql://st@db/station\"}", 0644), 0);
	assert_string_equal(f->c->database, "postgresql://st@db/station");
#endif
}

static void test_every_mistake_of_a_file_is_reported_in_one_pass_with_its_place(void **state)
{
	struct fx *f = *state;
	int n = load(f,
	             "{\"broker\": {\"port\": 70000, \"prefix\": \"a/+/b\", \"keepalive_s\": 2,\n"
	             "             \"certfile\": \"nope.pem\"},\n"
	             " \"http\": {\"listen\": \"localhost\", \"language\": \"fr\",\n"
	             "          \"session_idle_s\": 60},\n"
	             " \"lost_contact_s\": 10,\n"
	             " \"groups\": [{\"id\": \"g1\", \"lost_contact_s\": 100000},\n"
	             "            {\"id\": \"g1\"}],\n"
	             " \"sites\": [{\"id\": \"nt a\"}, {\"id\": \"nt-b\", \"group\": \"g2\"},\n"
	             "           {\"id\": \"nt-b\", \"geo\": {\"lat\": 91, \"lon\": -181}},\n"
	             "           {\"id\": \"nt-c\", \"name\": 5}],\n"
	             " \"log_level\": \"loud\"}\n",
	             0644);

	assert_null(f->c);
	said(f, 1, 21, "broker.port", "70000 is out of range: must be 1 to 65535");
	said(f, 1, 38, "broker.prefix", "wildcards");
	said(f, 1, 62, "broker.keepalive_s", "must be 5 to 3600");
	said(f, 2, 26, "broker.certfile", "cannot read");
	said(f, 2, 14, "broker.certfile", "needs both");
	said(f, 3, 21, "http.listen", "HOST:PORT");
	said(f, 3, 46, "http.language", "unknown language \"fr\"");
	said(f, 4, 29, "http.session_idle_s", "must be 300 to 604800");
	said(f, 5, 20, "lost_contact_s", "must be 30 to 86400");
	said(f, 6, 44, "groups[0].lost_contact_s", "must be 30 to 86400");
	said(f, 7, 20, "groups[1].id", "group id \"g1\" is already used at line 6");
	said(f, 8, 19, "sites[0].id", "invalid id \"nt a\"");
	said(f, 8, 52, "sites[1].group", "no group \"g2\"");
	said(f, 9, 19, "sites[2].id", "site id \"nt-b\" is already used at line 8");
	said(f, 9, 42, "sites[2].geo.lat", "91 is out of range: must be -90 to 90");
	said(f, 9, 53, "sites[2].geo.lon", "must be -180 to 180");
	said(f, 10, 35, "sites[3].name", "expected a string, found a number");
	said(f, 11, 15, "log_level", "unknown log level \"loud\"");
	/* no database is an error of the file as a whole (its top object) */
	said(f, 1, 1, "", "missing required key \"database\"");
	assert_int_equal(n, 19);
}

static void test_an_unknown_key_is_reported_with_a_suggestion(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f,
	                      "{\"database\": \"s.db\",\n"
	                      " \"broker\": {\"hst\": \"x\"},\n"
	                      " \"lost_contacts\": 60, \"zzz\": 1}\n",
	                      0644),
	                 3);
	said(f, 2, 13, "broker.hst", "unknown key; did you mean \"host\"?");
	said(f, 3, 2, "lost_contacts", "did you mean \"lost_contact_s\"?");
	said(f, 3, 23, "zzz", "unknown key; expected one of broker, database");
}

static void test_a_password_in_a_file_others_can_read_is_refused(void **state)
{
	struct fx *f = *state;
	const char *text = "{\"database\": \"s.db\",\n"
	                   " \"broker\": {\"username\": \"st\", \"password\": \"s3cret\"}}\n";

	assert_int_equal(load(f, text, 0644), 1);
	said(f, 2, 31, "broker.password", "chmod 600");
	assert_int_equal(load(f, text, 0600), 0);
	assert_string_equal(f->c->broker.password, "s3cret");
}

static void test_broken_json_and_a_missing_file_are_said_plainly(void **state)
{
	struct fx *f = *state;
	char missing[160], *out = NULL;
	size_t len = 0;
	FILE *errs;
	struct sconfig *c = NULL;

	assert_int_equal(load(f, "{\"database\": \"s.db\",\n}", 0644), 1);
	said(f, 1, 20, "", "a comma before a closing bracket");
	snprintf(missing, sizeof(missing), "%s/none.json", f->dir);
	errs = open_memstream(&out, &len);
	assert_int_equal(sconfig_load(missing, errs, &c), -ENOENT);
	fclose(errs);
	assert_null(c);
	assert_non_null(strstr(out, "none.json: cannot read: No such file"));
	free(out);
}

/* The station follows a cluster: "hosts", the port defaulting to the
 * object's; mistakes each at their place, in one pass. */
static void test_broker_hosts_list_a_cluster_and_mistakes_are_each_reported(void **state)
{
	struct fx *f = *state;

	assert_int_equal(load(f,
	                      "{\"database\": \"s.db\",\n"
	                      " \"broker\": {\"hosts\": [\"10.0.0.11\", \"10.0.0.12:1884\", "
	                      "\"[fd00::3]\"], \"port\": 1885}}\n",
	                      0644),
	                 0);
	assert_int_equal(f->c->broker.nhosts, 3);
	assert_string_equal(f->c->broker.hosts[0].host, "10.0.0.11");
	assert_int_equal(f->c->broker.hosts[0].port, 1885);
	assert_int_equal(f->c->broker.hosts[1].port, 1884);
	assert_string_equal(f->c->broker.hosts[2].host, "fd00::3");
	assert_string_equal(f->c->broker.host, "10.0.0.11");
	assert_int_equal(load(f,
	                      "{\"database\": \"s.db\",\n"
	                      " \"broker\": {\"host\": \"a\", \"hosts\": [\"b:99999\", \"c\", "
	                      "\"c:1883\"]}}\n",
	                      0644),
	                 3);
	said(f, 2, 26, "broker.hosts", "not both");
	said(f, 2, 36, "broker.hosts[0]", "\"b:99999\": the port after ':' must be a number");
	said(f, 2, 52, "broker.hosts[2]", "\"c:1883\" names the same broker as hosts[1]");
	assert_int_equal(load(f, "{\"database\": \"s.db\", \"broker\": {\"hosts\": []}}", 0644), 1);
	said(f, 1, 42, "broker.hosts", "lists 0 broker(s); give 1 to 8");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_a_full_config_loads_as_written, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_minimal_config_gets_the_defaults, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(
	        test_every_mistake_of_a_file_is_reported_in_one_pass_with_its_place, setup,
	        teardown),
	    cmocka_unit_test_setup_teardown(
	        test_broker_hosts_list_a_cluster_and_mistakes_are_each_reported, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_an_unknown_key_is_reported_with_a_suggestion,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_password_in_a_file_others_can_read_is_refused,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_broken_json_and_a_missing_file_are_said_plainly,
	                                    setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
