/*
 * sconfig.h: the station's configuration (one JSON file, station.json).
 *
 *   {"broker":   {"host": "127.0.0.1", "port": 1883, "prefix": "safehouse",
 *                 (or "hosts": ["10.0.0.11", "10.0.0.12:1884"]: a cluster),
 *                 "client_id": "safehouse-station", "username": "...",
 *                 "password": "...", "keepalive_s": 30,
 *                 "tls": false, "cafile": "...", "certfile": "...", "keyfile": "..."},
 *    "database": "/var/lib/safehouse-station/station.db",
 *    "http":     {"listen": "127.0.0.1:8090", "cert": "...", "key": "...",
 *                 "language": "vi", "session_idle_s": 43200},
 *    "lost_contact_s": 180,
 *    "groups":   [{"id": "to-1", "name": "Tổ dân phố 1", "lost_contact_s": 300}],
 *    "sites":    [{"id": "nt-minhson-ap3", "name": "...", "address": "...",
 *                  "phone": "+84...", "geo": {"lat": 10.64, "lon": 106.72},
 *                  "group": "to-1"}],
 *    "log_level": "info"}
 *
 * Every problem is reported in one pass as FILE:LINE:COL: json.path:
 * message (jsonpos.h), like the gateway's config. Relative paths are
 * relative to the config file. A password given in the file needs the file
 * not readable by group or others (chmod 600).
 */
#ifndef SH_SCONFIG_H
#define SH_SCONFIG_H

#include <stddef.h>
#include <stdio.h>

struct sconfig_group {
	char *id, *name;
	int lost_contact_s; /* 0: the station's default */
};

struct sconfig_site {
	char *id, *name, *address, *phone, *group; /* NULL when not given */
	int has_geo;
	double lat, lon;
};

struct cfgl_addr; /* common/cfgload.h */

struct sconfig {
	char *path; /* the file it was read from */
	struct {
		char *host;              /* with hosts: a copy of the first one's */
		int port;                /* default 1883, 8883 with TLS */
		struct cfgl_addr *hosts; /* "hosts": a cluster's nodes; NULL with "host" */
		int nhosts;
		char *prefix;    /* default "safehouse" */
		char *client_id; /* default "safehouse-station" */
		char *username, *password;
		int keepalive_s; /* default 30 */
		int tls;
		char *cafile, *certfile, *keyfile;
	} broker;
	char *database; /* a file path (made absolute) or a postgresql:// URL */
	struct {
		char *listen;       /* default "127.0.0.1:8090" */
		char *cert, *key;   /* HTTPS when both are set */
		char *language;     /* "vi" (default) or "en" */
		int session_idle_s; /* default 43200 */
	} http;
	/* Reporting window: 0 means three of the site's own heartbeat_s (180 s
	 * for the default 60 s heartbeat, and that until one arrives). */
	int lost_contact_s;
	/* A last will is lost contact only when the house has not reported
	 * again this long after it (default 30 s; 0: at once). */
	int will_grace_s;
	struct sconfig_group *groups;
	size_t ngroups;
	struct sconfig_site *sites;
	size_t nsites;
	int log_level; /* syslog level, default LOG_INFO */
};

/* Load and validate path. Every problem goes to errs (one line each) and
 * the count of errors is returned (0: *out is set, caller frees with
 * sconfig_free; > 0: *out is NULL). -ENOENT etc. when the file cannot be
 * read at all (also reported on errs). */
int sconfig_load(const char *path, FILE *errs, struct sconfig **out);
/* The same from a string (tests, fuzzing): name is used in messages, dir
 * for relative paths (NULL: the working directory); no file-mode check.
 * errs may be NULL (here and above) to drop the messages. */
int sconfig_load_string(const char *text, const char *name, const char *dir, FILE *errs,
                        struct sconfig **out);
void sconfig_free(struct sconfig *c);

/* Lookups (NULL when absent). */
const struct sconfig_site *sconfig_site(const struct sconfig *c, const char *id);
const struct sconfig_group *sconfig_group(const struct sconfig *c, const char *id);

#endif
