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

#include "../sensors/point.h"

#define DEFAULT_SOCKET "/run/safehouse/control.sock"
#define REPLY_MAX (4 * 1024 * 1024)
#define TIMEOUT_MS 10000

/* How long to wait for a reply; the Modbus scan takes longer. */
static int timeout_ms = TIMEOUT_MS;

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: safehousectl [-s SOCKET] [--json] COMMAND [ARGS]\n"
	        "commands:\n"
	        "  status               site, mode, active alarms, sensors, links\n"
	        "  alarms [--all]       active alarms (--all: recent history too)\n"
	        "  ack [ID] [--by NAME] acknowledge an alarm (no ID: every active one)\n"
	        "  silence [--by NAME]  silence the sirens (a new alarm sounds them again)\n"
	        "  reset ID [--by NAME] reset an alarm once its cause has cleared\n"
	        "  sensors [--zone Z]   every sensor: link, state, battery, last seen\n"
	        "  events [--since 1h|DATE] [--limit N]  the event log, newest first\n"
	        "  arm home|night|away [--force]  arm (refused with doors or windows open,\n"
	        "                       unless --force bypasses them until disarm)\n"
	        "  disarm\n"
	        "  disable TARGET --for 2h --reason TEXT  take a sensor or zone out of\n"
	        "                       service (at most 7 days)\n"
	        "  enable TARGET\n"
	        "  test start [ZONE] [--sirens] | test stop  walk test (1 hour at most)\n"
	        "  modbus scan BUS [--units 1-247] | modbus read BUS UNIT TABLE ADDRESS [COUNT]\n"
	        "                       installer tools, run by the daemon's own bus worker\n"
	        "  users [list] | users add NAME --role owner|tenant|installer [--pin-stdin]\n"
	        "                       [--duress] | users del NAME | users passwd NAME\n"
	        "state-changing commands take --code PIN (the code names who did it) and\n"
	        "--by NAME\n"
	        "options:\n"
	        "  -s, --socket PATH    control socket (default " DEFAULT_SOCKET
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

static void print_alarms(const cJSON *arr)
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

static void print_status(const cJSON *r)
{
	const cJSON *s = cJSON_GetObjectItem(r, "sensors");
	const cJSON *m = cJSON_GetObjectItem(r, "mqtt");
	const cJSON *rej = cJSON_GetObjectItem(r, "rejected"), *it;
	double bad = 0;
	printf("site:     %s (%s)\n", str(r, "site"), str(r, "name"));
	printf("mode:     %s\n", str(r, "mode"));
	printf("sirens:   %s\n", str(r, "sirens"));
	printf("alarms:   %.0f active, %.0f fault(s)\n", num(r, "active_alarms"), num(r, "faults"));
	print_alarms(cJSON_GetObjectItem(r, "alarms"));
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
	printf("sensors:  %.0f total, %.0f online, %.0f offline, %.0f not heard from yet\n",
	       num(s, "total"), num(s, "online"), num(s, "offline"), num(s, "unknown"));
	cJSON_ArrayForEach(it, cJSON_GetObjectItem(r, "last_known"))
	{
		printf("          %s: %s %s (last known before restart)\n", str(it, "sensor"),
		       str(it, "kind"), str(it, "state"));
	}
	printf("links:    local broker %s, upstream %s, %.0f message(s) waiting in the outbox\n",
	       cJSON_IsTrue(cJSON_GetObjectItem(m, "local")) ? "connected" : "DOWN",
	       cJSON_IsTrue(cJSON_GetObjectItem(m, "upstream")) ? "connected" : "DOWN",
	       num(r, "outbox_pending"));
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

static void add_by(cJSON *req, const char *by)
{
	cJSON_AddStringToObject(req, "by",
	                        by ? by : (getenv("USER") ? getenv("USER") : "safehousectl"));
}

/* 90s, 30m, 2h, 1d, 1h30m into whole seconds. */
static int parse_duration(const char *s, int64_t *secs)
{
	int64_t ms;
	if (sh_parse_duration(s, &ms) < 0 || ms % 1000)
		return -1;
	*secs = ms / 1000;
	return 0;
}

/* A duration back from now, or a local date [time], into UTC epoch ms. */
static int parse_since(const char *s, int64_t *ms)
{
	struct tm tm = {0};
	int64_t secs;
	const char *end;
	if (parse_duration(s, &secs) == 0) {
		*ms = ((int64_t)time(NULL) - secs) * 1000;
		return 0;
	}
	end = strptime(s, "%Y-%m-%d %H:%M", &tm);
	if (!end || *end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || *end)
		return -1;
	tm.tm_isdst = -1;
	*ms = (int64_t)mktime(&tm) * 1000;
	return 0;
}

static void print_sensors(const cJSON *arr)
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

static void print_events(const cJSON *arr)
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},          {"by", required_argument, NULL, 'b'},
	    {"force", no_argument, NULL, 'f'},        {"for", required_argument, NULL, 'F'},
	    {"reason", required_argument, NULL, 'R'}, {"sirens", no_argument, NULL, 'S'},
	    {"zone", required_argument, NULL, 'z'},   {"since", required_argument, NULL, 'i'},
	    {"limit", required_argument, NULL, 'l'},  {"help", no_argument, NULL, 'h'},
	    {"code", required_argument, NULL, 'c'},   {"role", required_argument, NULL, 'r'},
	    {"pin-stdin", no_argument, NULL, 'P'},    {"duress", no_argument, NULL, 'D'},
	    {"units", required_argument, NULL, 'U'},  {NULL, 0, NULL, 0}};
	const char *sock = getenv("SAFEHOUSE_SOCKET");
	const char *by = NULL, *cmd, *for_s = NULL, *reason = NULL, *zone = NULL, *since = NULL;
	const char *limit = NULL, *code = NULL, *role = NULL, *units = NULL;
	int json = 0, all = 0, force = 0, sirens = 0, pin_stdin = 0, duress = 0, c, rc = 2;
	cJSON *req = NULL, *reply = NULL;

	if (!sock || !*sock)
		sock = DEFAULT_SOCKET;
	/* Options may come before or after the command ("reset 4 --by Lan"). */
	while ((c = getopt_long(argc, argv, "s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'a':
			all = 1;
			break;
		case 'b':
			by = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'F':
			for_s = optarg;
			break;
		case 'R':
			reason = optarg;
			break;
		case 'S':
			sirens = 1;
			break;
		case 'z':
			zone = optarg;
			break;
		case 'i':
			since = optarg;
			break;
		case 'l':
			limit = optarg;
			break;
		case 'c':
			code = optarg;
			break;
		case 'r':
			role = optarg;
			break;
		case 'P':
			pin_stdin = 1;
			break;
		case 'D':
			duress = 1;
			break;
		case 'U':
			units = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (strcmp(cmd, "status") == 0) {
		if (optind != argc)
			goto bad_args;
	} else if (strcmp(cmd, "alarms") == 0) {
		if (optind != argc)
			goto bad_args;
		if (all)
			cJSON_AddBoolToObject(req, "all", 1);
	} else if (strcmp(cmd, "silence") == 0) {
		if (optind != argc)
			goto bad_args;
		cJSON_AddStringToObject(
		    req, "by", by ? by : (getenv("USER") ? getenv("USER") : "safehousectl"));
	} else if (strcmp(cmd, "reset") == 0 || strcmp(cmd, "ack") == 0) {
		char *end;
		long long id;
		int is_ack = strcmp(cmd, "ack") == 0;
		if (is_ack && optind == argc) {
			cJSON_AddStringToObject(
			    req, "by",
			    by ? by : (getenv("USER") ? getenv("USER") : "safehousectl"));
			goto send;
		}
		if (optind != argc - 1)
			goto bad_args;
		errno = 0;
		id = strtoll(argv[optind], &end, 10);
		if (errno || *end || id < 1) {
			fprintf(stderr,
			        "safehousectl: %s: \"%s\" is not an alarm id (see "
			        "'safehousectl alarms')\n",
			        cmd, argv[optind]);
			goto out;
		}
		cJSON_AddNumberToObject(req, "id", (double)id);
		cJSON_AddStringToObject(
		    req, "by", by ? by : (getenv("USER") ? getenv("USER") : "safehousectl"));
	} else if (strcmp(cmd, "sensors") == 0) {
		if (optind != argc)
			goto bad_args;
		if (zone)
			cJSON_AddStringToObject(req, "zone", zone);
	} else if (strcmp(cmd, "events") == 0) {
		int64_t from;
		if (optind != argc)
			goto bad_args;
		if (since) {
			if (parse_since(since, &from) < 0) {
				fprintf(stderr,
				        "safehousectl: events: --since takes a duration (1h, "
				        "30m, 2d) or a local date (2026-11-29 or \"2026-11-29 "
				        "08:00\"), not \"%s\"\n",
				        since);
				goto out;
			}
			cJSON_AddNumberToObject(req, "since_ms", (double)from);
		}
		if (limit)
			cJSON_AddNumberToObject(req, "limit", atoi(limit));
	} else if (strcmp(cmd, "arm") == 0) {
		if (optind != argc - 1)
			goto bad_args;
		cJSON_AddStringToObject(req, "mode", argv[optind]);
		if (force)
			cJSON_AddBoolToObject(req, "force", 1);
		add_by(req, by);
	} else if (strcmp(cmd, "disarm") == 0) {
		if (optind != argc)
			goto bad_args;
		add_by(req, by);
	} else if (strcmp(cmd, "disable") == 0) {
		int64_t secs;
		if (optind != argc - 1 || !for_s || !reason) {
			fprintf(stderr,
			        "safehousectl: disable needs TARGET --for DURATION --reason "
			        "TEXT, e.g. disable smoke-101 --for 2h --reason \"thay pin\"\n");
			goto out;
		}
		if (parse_duration(for_s, &secs) < 0) {
			fprintf(stderr,
			        "safehousectl: disable: --for takes a duration like 30m, 2h, "
			        "1d (at most 7d), not \"%s\"\n",
			        for_s);
			goto out;
		}
		cJSON_AddStringToObject(req, "target", argv[optind]);
		cJSON_AddNumberToObject(req, "for_s", (double)secs);
		cJSON_AddStringToObject(req, "reason", reason);
		add_by(req, by);
	} else if (strcmp(cmd, "enable") == 0) {
		if (optind != argc - 1)
			goto bad_args;
		cJSON_AddStringToObject(req, "target", argv[optind]);
		add_by(req, by);
	} else if (strcmp(cmd, "test") == 0) {
		if (optind < argc && strcmp(argv[optind], "start") == 0 && argc - optind <= 2) {
			cJSON_AddStringToObject(req, "action", "start");
			if (argc - optind == 2)
				cJSON_AddStringToObject(req, "zone", argv[optind + 1]);
			if (sirens)
				cJSON_AddBoolToObject(req, "sirens", 1);
		} else if (optind == argc - 1 && strcmp(argv[optind], "stop") == 0) {
			cJSON_AddStringToObject(req, "action", "stop");
		} else {
			goto bad_args;
		}
		add_by(req, by);
	} else if (strcmp(cmd, "modbus") == 0) {
		int n = argc - optind;
		if (n >= 2 && strcmp(argv[optind], "scan") == 0 && n == 2) {
			int from = 1, to = 247;
			cJSON_AddStringToObject(req, "action", "scan");
			cJSON_AddStringToObject(req, "bus", argv[optind + 1]);
			if (units && sscanf(units, "%d-%d", &from, &to) != 2 &&
			    sscanf(units, "%d", &from) == 1)
				to = from;
			cJSON_AddNumberToObject(req, "from", from);
			cJSON_AddNumberToObject(req, "to", to);
		} else if (n >= 5 && n <= 6 && strcmp(argv[optind], "read") == 0) {
			cJSON_AddStringToObject(req, "action", "read");
			cJSON_AddStringToObject(req, "bus", argv[optind + 1]);
			cJSON_AddNumberToObject(req, "unit", atoi(argv[optind + 2]));
			cJSON_AddStringToObject(req, "table", argv[optind + 3]);
			cJSON_AddNumberToObject(req, "address", atoi(argv[optind + 4]));
			cJSON_AddNumberToObject(req, "count", n == 6 ? atoi(argv[optind + 5]) : 1);
		} else {
			goto bad_args;
		}
		timeout_ms = 600000; /* a scan of 247 units takes a while */
	} else if (strcmp(cmd, "users") == 0) {
		const char *action = optind < argc ? argv[optind] : "list";
		char pin[32], dpin[32];
		cJSON_AddStringToObject(req, "action", action);
		if (strcmp(action, "list") == 0) {
			if (argc - optind > 1)
				goto bad_args;
		} else if (strcmp(action, "del") == 0) {
			if (argc - optind != 2)
				goto bad_args;
			cJSON_AddStringToObject(req, "name", argv[optind + 1]);
		} else if (strcmp(action, "add") == 0 || strcmp(action, "passwd") == 0) {
			if (argc - optind != 2 || (strcmp(action, "add") == 0 && !role)) {
				fprintf(
				    stderr,
				    "safehousectl: users add NAME --role owner|tenant|installer "
				    "[--pin-stdin] [--duress]; users passwd NAME ...\n");
				goto out;
			}
			cJSON_AddStringToObject(req, "name", argv[optind + 1]);
			if (role)
				cJSON_AddStringToObject(req, "role", role);
			if (read_pin(pin_stdin, "PIN (4 to 8 digits): ", pin, sizeof(pin)) < 0 ||
			    (duress &&
			     read_pin(pin_stdin, "duress PIN: ", dpin, sizeof(dpin)) < 0)) {
				fprintf(stderr, "safehousectl: no PIN given\n");
				goto out;
			}
			cJSON_AddStringToObject(req, "pin", pin);
			if (duress)
				cJSON_AddStringToObject(req, "duress_pin", dpin);
			memset(pin, 0, sizeof(pin));
			memset(dpin, 0, sizeof(dpin));
		} else {
			goto bad_args;
		}
		add_by(req, by);
	} else {
		fprintf(stderr, "safehousectl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		goto out;
	}
	if (code)
		cJSON_AddStringToObject(req, "code", code);

send:
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
	if (json)
		goto out;
	if (strcmp(cmd, "status") == 0)
		print_status(reply);
	else if (strcmp(cmd, "alarms") == 0)
		print_alarms(cJSON_GetObjectItem(reply, "alarms"));
	else if (strcmp(cmd, "reset") == 0)
		printf("alarm %.0f reset\n", num(reply, "id"));
	else if (strcmp(cmd, "modbus") == 0) {
		const cJSON *x, *arr = cJSON_GetObjectItem(reply, "units");
		if (arr) {
			printf("units that answer on %s:", argv[optind + 1]);
			cJSON_ArrayForEach(x, arr)
			{
				printf(" %.0f", x->valuedouble);
			}
			printf("%s\n", cJSON_GetArraySize(arr) ? "" : " none");
		} else {
			cJSON_ArrayForEach(x, cJSON_GetObjectItem(reply, "values"))
			{
				printf("%.0f ", x->valuedouble);
			}
			printf("\n");
		}
	} else if (strcmp(cmd, "users") == 0) {
		const cJSON *u;
		cJSON_ArrayForEach(u, cJSON_GetObjectItem(reply, "users"))
		{
			printf("  %-24s %-10s%s\n", str(u, "name"), str(u, "role"),
			       cJSON_IsTrue(cJSON_GetObjectItem(u, "duress"))
			           ? "  (duress code set)"
			           : "");
		}
		if (!cJSON_GetObjectItem(reply, "users"))
			printf("done\n");
	} else if (strcmp(cmd, "sensors") == 0)
		print_sensors(cJSON_GetObjectItem(reply, "sensors"));
	else if (strcmp(cmd, "events") == 0)
		print_events(cJSON_GetObjectItem(reply, "events"));
	else if (strcmp(cmd, "arm") == 0 || strcmp(cmd, "disarm") == 0)
		printf("mode: %s\n", str(reply, "mode"));
	else if (strcmp(cmd, "disable") == 0)
		printf("%s disabled for %s\n", argv[optind], for_s);
	else if (strcmp(cmd, "enable") == 0)
		printf("%s enabled\n", argv[optind]);
	else if (strcmp(cmd, "test") == 0)
		printf("walk test %s\n", strcmp(argv[optind], "start") == 0
		                             ? "started (ends by itself "
		                               "after 1 hour)"
		                             : "stopped");
	else if (strcmp(cmd, "ack") == 0)
		printf("%.0f alarm(s) acknowledged\n", num(reply, "acknowledged"));
	else if (strcmp(cmd, "silence") == 0)
		printf("%.0f alarm(s) silenced\n", num(reply, "silenced"));
	goto out;
bad_args:
	fprintf(stderr, "safehousectl: %s: wrong arguments\n", cmd);
	usage(stderr);
out:
	cJSON_Delete(req);
	cJSON_Delete(reply);
	return rc;
}
