/*
 * safehousectl.c: the command-line client of the control socket.
 *
 * Exit status: 0 done, 1 the daemon refused (reason on stderr), 2 usage
 * error or no daemon to talk to.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "compliance.h"
#include "config.h" /* SH_DEFAULT_SOCKET */
#include "discover.h"

#define REPLY_MAX (4 * 1024 * 1024)
#define TIMEOUT_MS 10000
/* A Modbus scan of 247 units takes a while. */
#define DEFERRED_TIMEOUT_MS 600000

/* How long to wait for a reply; deferred commands (Modbus) take longer. */
static int timeout_ms = TIMEOUT_MS;

static void usage(FILE *f)
{
	fprintf(f, "usage: safehousectl [-s SOCKET] [--json] COMMAND [ARGS]\n"
	           "commands:\n");
	commands_usage(f);
	fprintf(f, "  discover [-c CONFIG] [--broker HOST:PORT] [--base zigbee2mqtt] [--zone Z]\n"
	           "           [-o FILE] [--merge]\n"
	           "                       propose a sensor or siren entry for every paired\n"
	           "                       zigbee2mqtt device the config lacks (no daemon needed)\n"
	           "  check-devices -c CONFIG [--broker HOST:PORT] [--base zigbee2mqtt]\n"
	           "                       warn where a configured device does not expose what\n"
	           "                       its kind or siren form needs (no daemon needed)\n");
	fprintf(f, "state-changing commands take --code PIN (the code names who did it) and\n"
	           "--by NAME\n"
	           "options:\n"
	           "  -s, --socket PATH    control socket (default " SH_DEFAULT_SOCKET
	           ", or $SAFEHOUSE_SOCKET)\n"
	           "  -j, --json           print the daemon's JSON reply\n");
}

/* Send one request line, read one reply line. Returns the parsed reply or
 * NULL (message printed). */
static cJSON *call(const char *path, cJSON *req)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *text = NULL, *buf = NULL;
	size_t len = 0, cap = 0;
	cJSON *reply = NULL;
	int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "safehousectl: socket path too long: %s\n", path);
		goto out;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr,
		        "safehousectl: cannot reach safehoused at %s: %s\n"
		        "  (is it running? is -s right? are you in the socket's group?)\n",
		        path, strerror(errno));
		goto out;
	}
	text = cJSON_PrintUnformatted(req);
	if (!text || send(fd, text, strlen(text), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		fprintf(stderr, "safehousectl: send: %s\n", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t n;
		if (poll(&p, 1, timeout_ms) <= 0) {
			fprintf(stderr, "safehousectl: no reply from safehoused within %d s\n",
			        timeout_ms / 1000);
			goto out;
		}
		if (len + 4096 + 1 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 8192;
			if (cap > REPLY_MAX) {
				fprintf(stderr, "safehousectl: reply too large\n");
				goto out;
			}
			nb = realloc(buf, cap);
			if (!nb)
				goto out;
			buf = nb;
		}
		n = recv(fd, buf + len, 4096, 0);
		if (n <= 0) {
			fprintf(stderr, "safehousectl: connection closed before a reply\n");
			goto out;
		}
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	reply = cJSON_ParseWithLength(buf, len);
	if (!reply)
		fprintf(stderr, "safehousectl: the daemon sent an unreadable reply\n");
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(buf);
	return reply;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Print s left-aligned in width columns. printf's %-22s counts bytes, and
 * Vietnamese zone names are mostly multi-byte UTF-8. */
static void pad(const char *s, int width)
{
	int cols = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			cols++;
	fputs(s, stdout);
	for (; cols < width; cols++)
		putchar(' ');
}

static void show_alarms(const cJSON *arr)
{
	const cJSON *a;
	if (!cJSON_GetArraySize(arr)) {
		printf("  (none)\n");
		return;
	}
	printf("  %-6s %-11s %-9s %-22s %-16s %s\n", "ID", "CLASS", "STATE", "ZONE", "SENSOR",
	       "SINCE");
	cJSON_ArrayForEach(a, arr)
	{
		char zone[128];
		const cJSON *active = cJSON_GetObjectItem(a, "active");
		snprintf(zone, sizeof(zone), "%s",
		         *str(a, "zone_name") ? str(a, "zone_name") : str(a, "zone"));
		printf("  %-6.0f %-11s %-9s ", num(a, "id"), str(a, "class"), str(a, "state"));
		pad(zone, 22);
		putchar(' ');
		pad(str(a, "sensor"), 16);
		printf(" %s%s\n", str(a, "raised_at"), cJSON_IsFalse(active) ? "  (ended)" : "");
		if (*str(a, "message"))
			printf("         %s\n", str(a, "message"));
	}
}

static void show_status(const cJSON *r)
{
	const cJSON *s = cJSON_GetObjectItem(r, "sensors");
	const cJSON *m = cJSON_GetObjectItem(r, "mqtt");
	const cJSON *rej = cJSON_GetObjectItem(r, "rejected"), *it;
	double bad = 0;
	printf("site:     %s (%s)\n", str(r, "site"), str(r, "name"));
	printf("mode:     %s\n", str(r, "mode"));
	printf("sirens:   %s\n", str(r, "sirens"));
	printf("alarms:   %.0f active, %.0f fault(s)\n", num(r, "active_alarms"), num(r, "faults"));
	show_alarms(cJSON_GetObjectItem(r, "alarms"));
	{
		const cJSON *d, *t = cJSON_GetObjectItem(r, "test");
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(r, "disablements"))
		{
			printf("disabled: %s %s until %s by %s: %s\n", str(d, "kind"),
			       str(d, "target"), str(d, "until"), str(d, "by"), str(d, "reason"));
		}
		cJSON_ArrayForEach(d, cJSON_GetObjectItem(r, "bypassed"))
		{
			printf("bypassed: %s (until disarm)\n", d->valuestring);
		}
		if (cJSON_IsObject(t))
			printf("test:     walk test in %s by %s until %s, %.0f activation(s)\n",
			       *str(t, "zone") ? str(t, "zone") : "the whole site", str(t, "by"),
			       str(t, "until"), num(t, "activations"));
	}
	{
		const cJSON *st = cJSON_GetObjectItem(r, "store");
		if (cJSON_IsObject(st) && !cJSON_IsTrue(cJSON_GetObjectItem(st, "ok")))
			printf("store:    CANNOT WRITE since %s: %s; %.0f write(s) held in memory, "
			       "%.0f telemetry row(s) dropped; alarms are sent from memory\n",
			       str(st, "since"), str(st, "error"), num(st, "held"),
			       num(st, "shed"));
	}
	{
		const cJSON *db = cJSON_GetObjectItem(r, "database");
		const cJSON *lg = cJSON_GetObjectItem(r, "log");
		if (cJSON_IsObject(db))
			printf("database: %.1f MB, oldest event %s, events kept %.0f days\n",
			       num(db, "bytes") / 1e6,
			       *str(db, "oldest_event") ? str(db, "oldest_event") : "(none)",
			       num(db, "retention_days"));
		if (cJSON_IsObject(lg) && num(lg, "row") > 0)
			printf("log:      head row %.0f, hash %s\n", num(lg, "row"),
			       str(lg, "hash"));
	}
	printf("sensors:  %.0f total, %.0f online, %.0f offline, %.0f not heard from yet\n",
	       num(s, "total"), num(s, "online"), num(s, "offline"), num(s, "unknown"));
	{
		const cJSON *cp = cJSON_GetObjectItem(r, "compliance"), *f;
		if (cJSON_IsString(cJSON_GetObjectItem(cp, "at"))) {
			printf("self-check: %.0f passed, %.0f failed, %.0f not checked (%s)",
			       num(cp, "passed"), num(cp, "failed"), num(cp, "not_checked"),
			       str(cp, "at"));
			cJSON_ArrayForEach(f, cJSON_GetObjectItem(cp, "failing"))
			{
				printf("%s%s",
				       f == cJSON_GetObjectItem(cp, "failing")->child
				           ? "; failing: "
				           : ", ",
				       cJSON_GetStringValue(f));
			}
			putchar('\n');
		} else if (cp) {
			printf("self-check: not run yet\n");
		}
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "last_known"))
	{
		printf("          %s: %s %s (last known before restart)\n", str(it, "sensor"),
		       str(it, "kind"), str(it, "state"));
	}
	printf("links:    local broker %s, upstream %s, %.0f message(s) waiting in the outbox\n",
	       cJSON_IsTrue(cJSON_GetObjectItem(m, "local")) ? "connected" : "DOWN",
	       cJSON_IsTrue(cJSON_GetObjectItem(m, "upstream")) ? "connected" : "DOWN",
	       num(r, "outbox_pending"));
	if (cJSON_IsString(cJSON_GetObjectItem(m, "upstream_error")))
		printf("          upstream: %s\n", str(m, "upstream_error"));
	if (cJSON_IsString(cJSON_GetObjectItem(m, "upstream_peer")))
		printf("          upstream: on %s\n", str(m, "upstream_peer"));
	{
		const cJSON *nb = cJSON_GetObjectItem(r, "neighbours");
		if (cJSON_IsObject(nb) && cJSON_IsTrue(cJSON_GetObjectItem(nb, "watched")))
			printf("neighbours: watching %.0f site(s) over %s; %.0f event(s), %.0f "
			       "duplicate(s), %.0f bad message(s)\n",
			       num(nb, "sites"),
			       strcmp(str(nb, "via"), "local") == 0 ? "the local broker"
			                                            : "upstream",
			       num(nb, "events"), num(nb, "duplicates"), num(nb, "bad"));
		else if (cJSON_IsObject(nb))
			printf("neighbours: not watched (%s down): %.0f site(s) listed; a "
			       "neighbour's fire cannot reach this house\n",
			       strcmp(str(nb, "via"), "local") == 0 ? "local broker" : "upstream",
			       num(nb, "sites"));
		const cJSON *ob = cJSON_GetObjectItem(r, "outbox"), *p;
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(ob, "pending"))
		{
			if (p->valuedouble > 0 && strcmp(p->string, "upstream") != 0)
				printf("outbox:   %.0f %s message(s) waiting\n", p->valuedouble,
				       p->string);
		}
		cJSON_ArrayForEach(p, cJSON_GetObjectItem(ob, "faults"))
		{
			printf("channel:  %s\n", p->valuestring);
		}
	}
	cJSON_ArrayForEach(it, rej)
	{
		bad += it->valuedouble;
	}
	printf("payloads: %.0f used", num(r, "accepted"));
	if (num(r, "bad_fields") > 0)
		printf(" (%.0f bad field(s) dropped, the rest used)", num(r, "bad_fields"));
	printf(", %.0f unusable", bad);
	if (bad) {
		const char *sep = " (";
		cJSON_ArrayForEach(it, rej)
		{
			if (it->valuedouble > 0) {
				printf("%s%s %.0f", sep, it->string, it->valuedouble);
				sep = ", ";
			}
		}
		printf(")");
	}
	printf("\n");
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "modbus"))
	{
		printf("modbus:   %s unit %.0f %s: %.0f read(s), %.0f timeout(s), %.0f "
		       "exception(s), %.0f bad reply(ies)\n",
		       str(it, "bus"), num(it, "unit"), str(it, "state"), num(it, "ok"),
		       num(it, "timeouts"), num(it, "exceptions"), num(it, "errors"));
	}
	printf("rules:    %.0f loaded; up %.0f s; safehoused %s\n", num(r, "rules"),
	       num(r, "uptime_s"), str(r, "version"));
}

/* A PIN from the terminal without echo, or a line of stdin. */
static int read_pin(int from_stdin, const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	int tty = !from_stdin && isatty(STDIN_FILENO);
	size_t n;
	if (tty) {
		fputs(prompt, stderr);
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (!fgets(buf, (int)size, stdin))
		buf[0] = 0;
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	n = strcspn(buf, "\r\n");
	buf[n] = 0;
	return n ? 0 : -1;
}

static void show_sensors(const cJSON *arr)
{
	const cJSON *o;
	printf("  %-16s %-8s ", "SENSOR", "KIND");
	pad("ZONE", 20);
	printf(" %-8s %-10s %-8s %s\n", "LINK", "STATE", "BATTERY", "LAST SEEN");
	cJSON_ArrayForEach(o, arr)
	{
		char batt[16] = "-";
		const cJSON *b = cJSON_GetObjectItem(o, "battery");
		if (cJSON_IsNumber(b))
			snprintf(batt, sizeof(batt), "%.0f%%", b->valuedouble);
		printf("  %-16s %-8s ", str(o, "id"), str(o, "kind"));
		pad(str(o, "zone_name"), 20);
		printf(" %-8s %-10s %-8s %s%s\n", str(o, "link"), str(o, "state"), batt,
		       *str(o, "last_seen") ? str(o, "last_seen") : "never",
		       cJSON_IsTrue(cJSON_GetObjectItem(o, "disabled")) ? "  DISABLED" : "");
		if (cJSON_IsTrue(cJSON_GetObjectItem(o, "state_restored")))
			printf("  %-16s %s %s (last known before restart)\n", "", str(o, "kind"),
			       str(o, "state"));
	}
}

static void show_events(const cJSON *arr)
{
	const cJSON *o;
	if (!cJSON_GetArraySize(arr))
		printf("  (no events)\n");
	cJSON_ArrayForEach(o, arr)
	{
		printf("  %s  %-8s %-16s %s%s%s\n", str(o, "at"), str(o, "type"), str(o, "sensor"),
		       *str(o, "detail") ? str(o, "detail") : str(o, "point"),
		       *str(o, "origin") ? "  <- " : "", str(o, "origin"));
	}
}

/* ---- each command's reply as text (commands.def's print column) -------- */

static void print_status(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	show_status(r);
}

static void print_alarms(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	show_alarms(cJSON_GetObjectItem(r, "alarms"));
}

static void print_sensors(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	show_sensors(cJSON_GetObjectItem(r, "sensors"));
}

static void print_events(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	show_events(cJSON_GetObjectItem(r, "events"));
}

static void print_outbox(const struct cmd_args *a, const cJSON *r)
{
	const cJSON *rows = cJSON_GetObjectItem(r, "outbox"), *it;
	if (!cJSON_GetArraySize(rows)) {
		printf(a->all ? "the outbox is empty\n" : "nothing waiting in the outbox\n");
		return;
	}
	printf("  %-6s %-9s %-9s %-12s %-6s %-5s %-4s %-5s %s\n", "SEQ", "CHANNEL", "STATE",
	       "CONTACT", "KIND", "ALARM", "STEP", "TRIES", "DUE / DELIVERED");
	cJSON_ArrayForEach(it, rows)
	{
		char alarm[24] = "-";
		const cJSON *al = cJSON_GetObjectItem(it, "alarm");
		if (cJSON_IsNumber(al))
			snprintf(alarm, sizeof(alarm), "%.0f", al->valuedouble);
		printf("  %-6.0f %-9s %-9s ", num(it, "seq"), str(it, "channel"), str(it, "state"));
		pad(*str(it, "contact") ? str(it, "contact") : "(feed)", 12);
		printf(" %-6s %-5s %-4.0f %-5.0f %s\n", str(it, "kind"), alarm, num(it, "step"),
		       num(it, "tries"),
		       *str(it, "delivered_at") ? str(it, "delivered_at")
		       : *str(it, "due")        ? str(it, "due")
		                                : str(it, "created_at"));
		if (*str(it, "last_error"))
			printf("         last error: %s%s%s\n", str(it, "last_error"),
			       *str(it, "next_try") ? "; next try " : "", str(it, "next_try"));
		if (*str(it, "waiting"))
			printf("         waiting: %s\n", str(it, "waiting"));
	}
}

static void print_verify(const struct cmd_args *a, const cJSON *r)
{
	const cJSON *h = cJSON_GetObjectItem(r, "head");
	(void)a;
	printf("event log verified: %.0f row(s) chained", num(r, "rows"));
	if (num(r, "unchained") > 0)
		printf(" (%.0f earlier row(s) from before the chain are not)", num(r, "unchained"));
	printf("\n");
	if (num(h, "row") > 0)
		printf("head: row %.0f, hash %s\n", num(h, "row"), str(h, "hash"));
}

static void print_false_alarm(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	printf("alarm %.0f marked as a false alarm\n", num(r, "alarm"));
}

static void print_ack(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	printf("%.0f alarm(s) acknowledged\n", num(r, "acknowledged"));
}

static void print_silence(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	printf("%.0f alarm(s) silenced\n", num(r, "silenced"));
}

static void print_reset(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	printf("alarm %.0f reset\n", num(r, "id"));
}

static void print_mode(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	printf("mode: %s\n", str(r, "mode"));
}

static void print_disable(const struct cmd_args *a, const cJSON *r)
{
	(void)r;
	printf("%s disabled for %s\n", a->argv[0], a->for_s);
}

static void print_enable(const struct cmd_args *a, const cJSON *r)
{
	(void)r;
	printf("%s enabled\n", a->argv[0]);
}

static void print_test(const struct cmd_args *a, const cJSON *r)
{
	(void)r;
	if (strcmp(a->argv[0], "output") == 0) {
		printf("output %s on for %s s, then back to its wanted state\n", a->argv[1],
		       a->seconds ? a->seconds : "3");
		return;
	}
	printf("walk test %s\n", strcmp(a->argv[0], "start") == 0
	                             ? "started (ends by itself after 1 hour)"
	                             : "stopped");
}

static void print_modbus(const struct cmd_args *a, const cJSON *r)
{
	const cJSON *x, *arr = cJSON_GetObjectItem(r, "units");
	if (arr) {
		printf("units that answer on %s:", a->argv[1]);
		cJSON_ArrayForEach(x, arr)
		{
			printf(" %.0f", x->valuedouble);
		}
		printf("%s\n", cJSON_GetArraySize(arr) ? "" : " none");
		return;
	}
	cJSON_ArrayForEach(x, cJSON_GetObjectItem(r, "values"))
	{
		printf("%.0f ", x->valuedouble);
	}
	printf("\n");
}

static void print_users(const struct cmd_args *a, const cJSON *r)
{
	const cJSON *u;
	(void)a;
	cJSON_ArrayForEach(u, cJSON_GetObjectItem(r, "users"))
	{
		printf("  %-24s %-10s%s\n", str(u, "name"), str(u, "role"),
		       cJSON_IsTrue(cJSON_GetObjectItem(u, "duress")) ? "  (duress code set)" : "");
	}
	if (!cJSON_GetObjectItem(r, "users"))
		printf("done\n");
}

/* The report is rendered here, from the daemon's JSON: the daemon does
 * the reading, safehousectl the formatting and the file. */
static void print_report(const struct cmd_args *a, const cJSON *r)
{
	const cJSON *rp = cJSON_GetObjectItem(r, "report");
	FILE *out = stdout;
	if (a->output && !(out = fopen(a->output, "w"))) {
		fprintf(stderr, "safehousectl: %s: %s\n", a->output, strerror(errno));
		exit(1);
	}
	if (compliance_write(rp, a->format ? a->format : "text", out) < 0 ||
	    (out != stdout && fclose(out) != 0)) {
		fprintf(stderr, "safehousectl: report: write error\n");
		exit(1);
	}
	if (a->output)
		printf("report written to %s\n", a->output);
}

static void print_inspect(const struct cmd_args *a, const cJSON *r)
{
	(void)a;
	printf("%s\n", str(r, "message"));
}

typedef void (*print_fn)(const struct cmd_args *a, const cJSON *reply);

static const print_fn printers[CMD__COUNT] = {
#define CMD(name, flags, parse, print, synopsis, help) print,
#include "commands.def"
#undef CMD
};

/* Options may come before or after the command ("reset 4 --by Lan"). Fills
 * a and *sock; returns -1 to exit with *rc (help, or a usage error). */
static int read_options(int argc, char **argv, struct cmd_args *a, struct discover_opts *d,
                        const char **sock, int *json, int *rc)
{
	static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
	                                     {"json", no_argument, NULL, 'j'},
	                                     {"all", no_argument, NULL, 'a'},
	                                     {"by", required_argument, NULL, 'b'},
	                                     {"force", no_argument, NULL, 'f'},
	                                     {"for", required_argument, NULL, 'F'},
	                                     {"reason", required_argument, NULL, 'R'},
	                                     {"sirens", no_argument, NULL, 'S'},
	                                     {"zone", required_argument, NULL, 'z'},
	                                     {"since", required_argument, NULL, 'i'},
	                                     {"limit", required_argument, NULL, 'l'},
	                                     {"help", no_argument, NULL, 'h'},
	                                     {"code", required_argument, NULL, 6},
	                                     {"role", required_argument, NULL, 'r'},
	                                     {"pin-stdin", no_argument, NULL, 'P'},
	                                     {"duress", no_argument, NULL, 'D'},
	                                     {"units", required_argument, NULL, 'U'},
	                                     {"from", required_argument, NULL, 1},
	                                     {"to", required_argument, NULL, 2},
	                                     {"format", required_argument, NULL, 3},
	                                     {"lang", required_argument, NULL, 4},
	                                     {"output", required_argument, NULL, 'o'},
	                                     {"note", required_argument, NULL, 5},
	                                     {"config", required_argument, NULL, 'c'},
	                                     {"broker", required_argument, NULL, 7},
	                                     {"base", required_argument, NULL, 8},
	                                     {"merge", no_argument, NULL, 9},
	                                     {"seconds", required_argument, NULL, 10},
	                                     {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "s:jho:c:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			*sock = optarg;
			break;
		case 'j':
			*json = 1;
			break;
		case 'a':
			a->all = 1;
			break;
		case 'b':
			a->by = optarg;
			break;
		case 'f':
			a->force = 1;
			break;
		case 'F':
			a->for_s = optarg;
			break;
		case 'R':
			a->reason = optarg;
			break;
		case 'S':
			a->sirens = 1;
			break;
		case 'z':
			a->zone = optarg;
			break;
		case 'i':
			a->since = optarg;
			break;
		case 'l':
			a->limit = optarg;
			break;
		case 6:
			a->code = optarg;
			break;
		case 'c':
			d->config = optarg;
			break;
		case 7:
			d->broker = optarg;
			break;
		case 8:
			d->base = optarg;
			break;
		case 9:
			d->merge = 1;
			break;
		case 10:
			a->seconds = optarg;
			break;
		case 'r':
			a->role = optarg;
			break;
		case 'P':
			a->pin_stdin = 1;
			break;
		case 'D':
			a->duress = 1;
			break;
		case 'U':
			a->units = optarg;
			break;
		case 1:
			a->from = optarg;
			break;
		case 2:
			a->to = optarg;
			break;
		case 3:
			a->format = optarg;
			break;
		case 4:
			a->lang = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 5:
			a->note = optarg;
			break;
		case 'h':
			usage(stdout);
			*rc = 0;
			return -1;
		default:
			usage(stderr);
			*rc = 2;
			return -1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		*rc = 2;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct cmd_args a = {.read_pin = read_pin};
	struct discover_opts d = {.timeout_ms = 5000};
	const char *sock = getenv("SAFEHOUSE_SOCKET"), *name;
	const struct command *cmd;
	char err[512];
	int json = 0, rc = 2;
	cJSON *req = NULL, *reply = NULL;

	if (!sock || !*sock)
		sock = SH_DEFAULT_SOCKET;
	if (read_options(argc, argv, &a, &d, &sock, &json, &rc) < 0)
		return rc;
	name = argv[optind++];
	/* The installer's tools on zigbee2mqtt's device list: the broker and
	 * the config file, no daemon. */
	if (strcmp(name, "discover") == 0 || strcmp(name, "check-devices") == 0) {
		const char *t = getenv("SAFEHOUSECTL_DISCOVER_TIMEOUT_MS");
		if (optind != argc) {
			usage(stderr);
			return 2;
		}
		if (t && atoi(t) > 0)
			d.timeout_ms = atoi(t);
		d.output = a.output;
		d.zone = a.zone;
		return name[0] == 'd' ? discover_run(&d) : discover_check_devices(&d);
	}
	a.argc = argc - optind;
	a.argv = argv + optind;
	if (!a.by)
		a.by = getenv("USER") ? getenv("USER") : "safehousectl";
	switch (commands_request(name, &a, &req, err, sizeof(err))) {
	case CMD_ARGS_OK:
		break;
	case CMD_ARGS_USAGE:
		fprintf(stderr, "safehousectl: %s: wrong arguments\n", name);
		usage(stderr);
		goto out;
	case CMD_ARGS_UNKNOWN:
		fprintf(stderr, "safehousectl: %s\n", err);
		usage(stderr);
		goto out;
	default:
		fprintf(stderr, "safehousectl: %s\n", err);
		goto out;
	}
	cmd = commands_lookup(name);
	if (cmd->flags & CMD_DEFERRED)
		timeout_ms = DEFERRED_TIMEOUT_MS;
	reply = call(sock, req);
	if (!reply)
		goto out;
	if (json) {
		char *t = cJSON_PrintUnformatted(reply);
		printf("%s\n", t ? t : "");
		free(t);
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItem(reply, "ok"))) {
		fprintf(stderr, "safehousectl: %s\n", str(reply, "error"));
		rc = 1;
		goto out;
	}
	rc = 0;
	if (!json)
		printers[commands_id(cmd)](&a, reply);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}
