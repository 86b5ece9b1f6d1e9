/*
 * daemon_config.c: safehoused's config and rules as a whole: loading both
 * (start, reload), --check, --test, the site's time zone, and the one-daemon-
 * per-database lock.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "../rules/rules.h"
#include "compliance.h"
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "pidlock.h"
#include "plugin.h"
#include "scenario.h"

void daemon_diag_print(void *ctx, int severity, const char *msg)
{
	struct diag_count *d = ctx;
	if (severity == 0)
		d->errors++;
	else
		d->warnings++;
	if (d->to_log)
		log_msg(severity ? LOG_WARNING : LOG_ERR, "%s", msg);
	else
		fprintf(stderr, "%s%s\n", msg, severity ? " (warning)" : "");
}

/* Load config and rules together: both must be valid, or neither is used. */
int daemon_load_all(const char *path, int to_log, struct config **cfg_out,
                    struct ruleset **rules_out, struct diag_count *d)
{
	struct config *cfg;
	struct ruleset *rs = NULL;
	struct rules_site *site;
	int nerr = 0, nwarn = 0;

	memset(d, 0, sizeof(*d));
	d->to_log = to_log;
	cfg = config_load(path, daemon_diag_print, d, &nerr);
	if (!cfg)
		return -1;
	site = config_rules_site(cfg);
	if (site)
		rs = rules_compile_files((const char *const *)cfg->rule_files, cfg->nrule_files,
		                         site, daemon_diag_print, d, &nerr, &nwarn);
	else
		daemon_diag_print(d, 0, "rules: out of memory");
	free(site);
	if (!rs) {
		config_free(cfg);
		return -1;
	}
	*cfg_out = cfg;
	*rules_out = rs;
	return 0;
}

/* --test: scenarios on a virtual clock against the config's own rules. */
int daemon_test_all(struct daemon *dm, const char *path, const char *const *files, int nfiles)
{
	struct diag_count d;
	int failed;
	if (daemon_load_all(dm->config_path, 0, &dm->cfg, &dm->rules, &d) < 0) {
		fprintf(stderr, "%s: %d error(s); fix them first (--check)\n", path, d.errors);
		free(dm->config_path);
		free(dm);
		return 1;
	}
	log_init("safehoused", 1, LOG_ERR);
	daemon_set_timezone(dm->cfg);
	failed = scenario_run_files(dm->cfg, files, nfiles, stdout, stderr);
	rules_free(dm->rules);
	config_free(dm->cfg);
	free(dm->config_path);
	free(dm);
	return failed ? 1 : 0;
}

/* Calendar rules run in the site's time zone; stored times stay UTC. */
void daemon_set_timezone(const struct config *c)
{
	char path[256];
	const char *tz = c->site.timezone ? c->site.timezone : SH_DEFAULT_TIMEZONE;
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
	if (access(path, R_OK) != 0)
		log_warn("time zone %s: %s not found (install tzdata); calendar rules use UTC", tz,
		         path);
	setenv("TZ", tz, 1);
	tzset();
}

/* --check: every error of the config and of every rule file, in one pass.
 * The rule files are checked even when the config has errors, against what
 * of the config could be read, so an installer fixes everything at once. */
/* The plugins the config needs (plugin.h), loaded as the daemon would. A
 * missing one is a warning, not an error: the daemon starts and guards the
 * house without it (the unit runs --check before the daemon, and a house
 * must not stay unguarded for want of its web page). */
static void check_plugins(const struct config *c, struct diag_count *d)
{
	char err[512], msg[700];

	if (c->web.listen && !plugin_load(PLUGIN_WEB, "wpanel_plugin", err, sizeof(err))) {
		snprintf(msg, sizeof(msg),
		         "web: the owner's panel needs %s: %s; safehoused would run without its "
		         "web panel",
		         PLUGIN_WEB, err);
		daemon_diag_print(d, 1, msg);
	}
	if (config_has_via(c, VIA_WEBHOOK) &&
	    !plugin_load(PLUGIN_WEBHOOK, "webhook_plugin", err, sizeof(err))) {
		snprintf(msg, sizeof(msg),
		         "contacts: webhook contacts need %s: %s; their messages would wait in the "
		         "outbox",
		         PLUGIN_WEBHOOK, err);
		daemon_diag_print(d, 1, msg);
	}
}

int daemon_check_all(struct daemon *dm, const char *path)
{
	struct diag_count d = {0};
	struct rules_site *site;
	int cerr = 0, rerr = 0, rwarn = 0;

	dm->cfg = config_load_partial(dm->config_path, daemon_diag_print, &d, &cerr);
	if (dm->cfg && dm->cfg->nrule_files > 0) {
		site = config_rules_site(dm->cfg);
		if (site)
			dm->rules = rules_compile_files((const char *const *)dm->cfg->rule_files,
			                                dm->cfg->nrule_files, site,
			                                daemon_diag_print, &d, &rerr, &rwarn);
		else
			daemon_diag_print(&d, 0, "rules: out of memory");
		free(site);
	}
	if (dm->cfg && dm->cfg->criteria_file) {
		struct compliance_criteria *cr;
		if (access(dm->cfg->criteria_file, F_OK) < 0) {
			char msg[512];
			snprintf(
			    msg, sizeof(msg),
			    "%s: no criteria file (the report and the daily self-check need one; "
			    "set \"criteria\")",
			    dm->cfg->criteria_file);
			daemon_diag_print(&d, 1, msg);
		} else if ((cr = compliance_criteria_load(dm->cfg->criteria_file, daemon_diag_print,
		                                          &d, NULL))) {
			compliance_criteria_free(cr);
		}
	}
	if (dm->cfg)
		check_plugins(dm->cfg, &d);
	if (d.errors == 0 && dm->cfg && dm->rules)
		printf("%s: OK: %d zones, %d sensors, %d outputs, %d contacts, %d rules in %d "
		       "file(s)%s\n",
		       path, dm->cfg->nzones, dm->cfg->nsensors, dm->cfg->noutputs,
		       dm->cfg->ncontacts, rules_count(dm->rules), dm->cfg->nrule_files,
		       d.warnings ? ", with warnings" : "");
	else
		fprintf(stderr, "%s: %d error(s)\n", path, d.errors ? d.errors : 1);
	rules_free(dm->rules);
	config_free(dm->cfg);
	free(dm->config_path);
	free(dm);
	return d.errors == 0 && cerr == 0 ? 0 : 1;
}

/* One daemon per database, decided before anything is opened or connected:
 * returns the lock's descriptor (held until exit), or negative after saying
 * why. */
int daemon_lock_database(const char *database)
{
	char *path = NULL, err[512];
	pid_t holder = 0;
	int fd;

	if (asprintf(&path, "%s.lock", database) < 0) {
		log_err("out of memory");
		return -1;
	}
	fd = pidlock_take(path, &holder, err, sizeof(err));
	if (fd == -EAGAIN && holder > 0)
		log_err("another safehoused (pid %ld) is already running with database %s; not "
		        "starting",
		        (long)holder, database);
	else if (fd == -EAGAIN)
		log_err("another safehoused is already running with database %s (%s); not starting",
		        database, err);
	else if (fd < 0)
		log_err("%s; not starting", err);
	free(path);
	return fd;
}

int daemon_report_offline(const char *path, const struct daemon_report_opts *o)
{
	struct diag_count d = {0};
	struct config *cfg;
	struct compliance_criteria *cr = NULL;
	cJSON *rp = NULL;
	FILE *out = stdout;
	int64_t from, to;
	int lang, rc = 1, w;
	char err[512];
	struct timespec now;

	cfg = config_load(path, daemon_diag_print, &d, NULL);
	if (!cfg)
		return 1;
	daemon_set_timezone(cfg);
	if (!o->from || !o->to || compliance_parse_time(o->from, &from) < 0 ||
	    compliance_parse_time(o->to, &to) < 0) {
		fprintf(stderr, "--report needs --from and --to as YYYY-MM-DD (site time) or RFC "
		                "3339 (2026-11-29T08:00:00Z)\n");
		goto out;
	}
	lang = o->lang ? (!strcmp(o->lang, "en")   ? LANG_EN
	                  : !strcmp(o->lang, "vi") ? LANG_VI
	                                           : -1)
	               : cfg->site.language;
	if (lang < 0) {
		fprintf(stderr, "--lang: expected vi or en, found \"%s\"\n", o->lang);
		goto out;
	}
	if (strcmp(o->format, "json") && strcmp(o->format, "text") && strcmp(o->format, "html")) {
		fprintf(stderr, "--format: expected text, json or html, found \"%s\"\n", o->format);
		goto out;
	}
	cr = compliance_criteria_load(cfg->criteria_file, daemon_diag_print, &d, NULL);
	if (!cr)
		goto out;
	clock_gettime(CLOCK_REALTIME, &now);
	rp = compliance_report(cfg, cr, o->db ? o->db : cfg->database, from, to,
	                       (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, lang, 0, err,
	                       sizeof(err));
	if (!rp) {
		fprintf(stderr, "report: %s\n", err);
		goto out;
	}
	if (o->out && !(out = fopen(o->out, "w"))) {
		fprintf(stderr, "%s: %s\n", o->out, strerror(errno));
		out = stdout;
		goto out;
	}
	w = compliance_write(rp, o->format, out);
	if (out != stdout && fclose(out) != 0)
		w = -1;
	out = stdout;
	if (w < 0) {
		fprintf(stderr, "report: write error\n");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(rp);
	compliance_criteria_free(cr);
	config_free(cfg);
	return rc;
}
