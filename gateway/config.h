/*
 * config.h: the site configuration, loaded from one JSON file.
 *
 * config_load() parses and validates the whole file in one pass and reports
 * every error it finds through the diagnostic callback as
 * "FILE:LINE:COL: json.path: message". It returns NULL when there was any
 * error, so a caller never sees a half-valid config. The returned object is
 * immutable and owned by the caller; free it with config_free().
 *
 * Diagnostics arrive in file order, after the whole file was checked.
 * Warnings (severity 1, e.g. a rule pattern that matches no file) do not
 * make the load fail. Relative paths in the file are relative to the file's
 * directory; every path in struct config is already absolute.
 */
#ifndef SH_CONFIG_H
#define SH_CONFIG_H

#include "../sensors/family.h"
#include "../sensors/modbus_point.h"
#include "../sensors/point.h"

struct rules_site;

#define SH_ID_MAX 64
#define SH_TOPIC_MAX 256

/* Defaults that more than one program needs (safehousectl, the daemon). */
#define SH_DEFAULT_SOCKET "/run/safehouse/control.sock"
#define SH_DEFAULT_TIMEZONE "Asia/Ho_Chi_Minh"

/* A zone's camera, for a snapshot attached to the alerts of its alarms
 * (gateway/webhook.c). snapshot_url NULL: the zone has none. */
struct config_camera {
	char *snapshot_url; /* http:// or https://, answering one JPEG */
	char *username;     /* NULL: no authentication */
	char *password;     /* a secret: the file must then be mode 0600 */
	int digest;         /* "auth": "digest" (default basic) */
};

struct config_zone {
	char *id;
	char *name;
	int floor;
	char *kind; /* room, kitchen, corridor, stairs, exit, parking, shop */
	struct config_camera camera;
};

/* A device's "mqtt" object: struct family_binding (sensors/family.h), whose
 * family-specific options the family itself parses. */

/* Modbus: one point of one device on a bus (the tables and value types are
 * sensors/modbus_point.h's, which decodes them). */

struct config_modbus {
	int bus; /* index into buses; -1: not a Modbus point */
	int unit;
	enum mb_table table;
	int address;
	int bit; /* -1: the whole value */
	enum mb_type type;
	int word_little; /* 32-bit: the first register is the low word */
	double scale, offset;
	int invert;
	enum sh_point point; /* numeric values: temperature (default) or battery */
	int poll_ms, timeout_ms, retries;
};

enum bus_type { BUS_TCP, BUS_RTU };

struct config_bus {
	char *id;
	enum bus_type type;
	char *host; /* tcp */
	int port;
	char *device; /* rtu */
	int baud, data_bits, stop_bits;
	char parity; /* 'N', 'E', 'O' */
	int rs485;
	int timeout_ms, retries, poll_ms; /* defaults for its devices */
};

struct config_sensor {
	char *id;
	char *name; /* defaults to id */
	enum sh_kind kind;
	int zone;                    /* index into zones */
	int supervision_s;           /* 0 = not supervised; default 7200 battery, 600 mains */
	int power_mains;             /* "power": "mains" (the default for gas, co, power) */
	struct family_binding mqtt;  /* topic and format NULL when not MQTT */
	struct config_modbus modbus; /* bus -1 when not Modbus */
};

enum output_kind { OUTPUT_SIREN, OUTPUT_STROBE, OUTPUT_RELAY, OUTPUT_VALVE };

struct config_output {
	char *id;
	enum output_kind kind;
	int zone;                    /* -1 when not tied to a zone */
	struct family_binding mqtt;  /* topic and format NULL when not MQTT */
	struct config_modbus modbus; /* a coil; bus -1 when not Modbus */
	int duration_s;              /* siren on-time per command; refreshed while on */
};

enum contact_via { VIA_UPSTREAM, VIA_SMS, VIA_CALL, VIA_WEBHOOK, VIA__COUNT };

/* One step of a contact's escalation chain: a channel, its address, and
 * when it runs. A contact given in the short form ("via", "phone"...) has
 * one step at once. The steps run until somebody acknowledges the alarm. */
struct config_step {
	enum contact_via via;
	char *phone;    /* sms, call */
	char *url;      /* webhook (a preset may build it instead) */
	int after_s;    /* when it runs, counted from the alert; 0: at once */
	int repeat_s;   /* 0: once; else again every repeat_s seconds... */
	int repeat_max; /* ...at most this many runs in all (default 3) */
	void *opts;     /* the channel's own keys (gateway/channel.h); its free_opts frees them */
};

struct config_contact {
	char *id;
	char *name;                /* for people: messages and status; defaults to id */
	struct config_step *steps; /* at least one, in the file's order */
	int nsteps;
	int ack_by_reply; /* an SMS from one of its phones acknowledges (default: on) */
	int ack_by_call;  /* a call from one of its phones acknowledges (default: off) */
	/* The first step's channel and addresses, for code that knows one
	 * channel per contact. They point into steps[0]; never freed alone. */
	enum contact_via via;
	const char *phone;
	const char *url;
};

struct cfgl_addr; /* common/cfgload.h */

struct config_broker {
	char *host; /* with hosts: a copy of the first one's, so host says "there is one" */
	int port;
	/* upstream "hosts": the nodes of a cluster, to fail over between (the
	 * client's order); NULL and 0 with "host". */
	struct cfgl_addr *hosts;
	int nhosts;
	char *username;
	char *password;
	char *client_id;
	int keepalive_s;
	int tls;          /* use the system CA store; the port then defaults to 8883 */
	int down_fault_s; /* upstream: down this long is a fault (default 300) */
	char *cafile;     /* absolute; implies tls */
	char *certfile;   /* upstream: client certificate (absolute); implies tls */
	char *keyfile;    /* its private key: mode 0600 or refused */
};

/* One entry of the credentials file: a secret string, or an object with a
 * username and a password (secret is then the password). */
struct config_secret {
	char *name;
	char *username; /* NULL for a bare string */
	char *secret;
};

/* "modem": a GSM modem on a serial port (gateway/modem.h). */
struct config_modem {
	char *device;   /* absolute; NULL: no modem */
	int baud;       /* default 115200 */
	char *pin_file; /* absolute; NULL: the SIM asks for no PIN. Never the PIN itself */
	int ring_s;     /* an outgoing call rings this long at most (default 30) */
	int check_s;    /* registration and signal are checked this often (default 60) */
	int fault_s;    /* a modem fault lasting this long is a fault alarm (default 120) */
};

/* "web": the owner's panel served on the house's network. */
struct config_web {
	char *listen;       /* "0.0.0.0:8080"; NULL: no panel (the default) */
	int https;          /* serve HTTPS (default 0: plain HTTP) */
	char *cert, *key;   /* absolute PEM files; NULL with https: self-signed,
	                     * made on first start beside the database */
	int public_view;    /* "public": the annunciator without log-in (default 1) */
	int language;       /* enum config_language; default the site's */
	int session_idle_s; /* a log-in ends after this long idle (default 600) */
};

struct config {
	char *path; /* the file this was loaded from */
	char *dir;  /* its directory, absolute, for relative paths */

	struct {
		char *id, *name, *address, *phone, *timezone;
		double lat, lon;
		int has_geo;
		int language; /* enum config_language: the texts people read */
	} site;

	char *database;
	char *control_socket;
	char *control_group;    /* NULL: the daemon's own group */
	int control_idle_s;     /* an idle control client is closed after this */
	int outbox_max_pending; /* "outbox": {"max_pending"}: notices are dropped past it */
	char *log_level;        /* debug, info, notice, warning, error */

	char *credentials; /* the credentials file (absolute), or NULL */
	struct config_secret *secrets;
	int nsecrets;

	struct config_broker mqtt;
	struct config_broker upstream; /* host NULL: the local broker; all 0 */
	char *upstream_prefix;         /* default "safehouse" */
	int heartbeat_s;
	int retention_days; /* events are kept at least this long */
	/* "history": a numeric reading goes into the event log when it moved by
	 * at least its step since the last one recorded, or after
	 * max_interval_s when it moved less (engine.c, record_numeric). */
	double history_temperature_step; /* degrees; 0: every change */
	double history_battery_step;     /* percent; 0: every change */
	int history_max_interval_s;
	int hass_enabled; /* "homeassistant": {"enabled"} (default 1) */
	struct config_modem modem;
	char *hass_prefix; /* discovery prefix (default "homeassistant") */

	struct config_bus *buses;
	int nbuses;
	char *profiles_dir; /* Modbus device profiles (absolute) */

	struct config_zone *zones;
	int nzones;
	struct config_sensor *sensors;
	int nsensors;
	struct config_output *outputs;
	int noutputs;
	struct config_contact *contacts;
	int ncontacts;

	/* "criteria": the inspection criteria file (absolute; always set), the
	 * contacts the daily self-check tells of a newly failed criterion
	 * (default: the contact "owner" if there is one), and when it runs
	 * (minutes after the site's midnight; default 08:00). */
	char *criteria_file;
	char **criteria_notify;
	int ncriteria_notify;
	int self_check_min;

	char **rule_files; /* expanded globs, absolute paths, sorted */
	int nrule_files;

	/* The neighbour group (to lien gia): other sites' ids whose alarm
	 * feeds this gateway follows; never our own id, no duplicates. */
	char **neighbours;
	int nneighbours;

	/* "web": the owner's panel (gateway/wpanel.h); listen NULL: off. */
	struct config_web web;
};

/* site.language: "vi" (default) or "en". */
enum config_language { LANG_VI, LANG_EN, LANG__COUNT };

/* The most sites a neighbour group lists (a to lien gia is 5 to 15 houses,
 * this one among them). */
#define CONFIG_NEIGHBOURS_MAX 15

/* Severity 0 = error, 1 = warning. */
typedef void (*config_diag_fn)(void *ctx, int severity, const char *msg);

/* Load and validate FILE. Every problem is reported through diag (one call
 * per problem, already formatted with file:line:col). Returns NULL on any
 * error; *nerrors gets the error count when not NULL. */
struct config *config_load(const char *file, config_diag_fn diag, void *ctx, int *nerrors);

/* For --check only: like config_load(), but returns whatever could be read
 * even when there were errors (entries with errors may be missing or hold
 * -1 indices), so that the rule files can still be checked in the same
 * pass. NULL only when nothing could be read. Never run a daemon on it. */
struct config *config_load_partial(const char *file, config_diag_fn diag, void *ctx, int *nerrors);

/* Load from a NUL-terminated string; name is used in messages and dir (NULL:
 * the current directory) for relative paths. */
struct config *config_load_string(const char *text, const char *name, const char *dir,
                                  config_diag_fn diag, void *ctx, int *nerrors);

void config_free(struct config *c);

/* Lookups by id; return the index or -1. */
int config_zone_index(const struct config *c, const char *id);
int config_sensor_index(const struct config *c, const char *id);
int config_output_index(const struct config *c, const char *id);
int config_contact_index(const struct config *c, const char *id);
int config_bus_index(const struct config *c, const char *id);

/* What the rule compiler needs of the site (rules/rules.h), built from c:
 * sensors, zones, contacts and outputs by index, pointing at c's strings.
 * One allocation: the caller frees it with free(), at the latest before
 * config_free(c); rules_compile_*() keeps nothing of it. NULL when out of
 * memory; a NULL c gives an empty site. */
struct rules_site *config_rules_site(const struct config *c);

/* The secret of entry NAME of the credentials file (a string entry, or
 * the password of an object entry): what a "credentials:NAME" value stands
 * for. NULL when there is no such entry (or no credentials file). The
 * string belongs to c. Never log or show it. */
const char *config_credential(const struct config *c, const char *name);

const char *config_output_kind_name(enum output_kind k);
const char *config_via_name(enum contact_via v);
/* Whether a step of some contact goes via v (the webhook plugin is loaded
 * only then). */
int config_has_via(const struct config *c, enum contact_via v);

#endif
