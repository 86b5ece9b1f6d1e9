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
#include <unistd.h>

#define DEFAULT_SOCKET "/run/safehouse/control.sock"
#define REPLY_MAX (4 * 1024 * 1024)
#define TIMEOUT_MS 10000

static void usage(FILE *f)
{
	fprintf(f, "usage: safehousectl [-s SOCKET] [--json] COMMAND [ARGS]\n"
	           "commands:\n"
	           "  status               site, mode, active alarms, sensors, links\n"
	           "  alarms [--all]       active alarms (--all: recent history too)\n"
	           "  ack [ID] [--by NAME] acknowledge an alarm (no ID: every active one)\n"
	           "  silence [--by NAME]  silence the sirens (a new alarm sounds them again)\n"
	           "  reset ID [--by NAME] reset an alarm once its cause has cleared\n"
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
		if (poll(&p, 1, TIMEOUT_MS) <= 0) {
			fprintf(stderr, "safehousectl: no reply from safehoused within %d s\n",
			        TIMEOUT_MS / 1000);
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
	printf("sensors:  %.0f total, %.0f online, %.0f offline, %.0f not heard from yet\n",
	       num(s, "total"), num(s, "online"), num(s, "offline"), num(s, "unknown"));
	printf("links:    local broker %s, upstream %s, %.0f message(s) waiting in the outbox\n",
	       cJSON_IsTrue(cJSON_GetObjectItem(m, "local")) ? "connected" : "DOWN",
	       cJSON_IsTrue(cJSON_GetObjectItem(m, "upstream")) ? "connected" : "DOWN",
	       num(r, "outbox_pending"));
	cJSON_ArrayForEach(it, rej)
	{
		bad += it->valuedouble;
	}
	printf("payloads: %.0f used, %.0f unusable", num(r, "accepted"), bad);
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
	printf("rules:    %.0f loaded; up %.0f s; safehoused %s\n", num(r, "rules"),
	       num(r, "uptime_s"), str(r, "version"));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"json", no_argument, NULL, 'j'},
	    {"all", no_argument, NULL, 'a'},          {"by", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	const char *sock = getenv("SAFEHOUSE_SOCKET");
	const char *by = NULL, *cmd;
	int json = 0, all = 0, c, rc = 2;
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
	} else {
		fprintf(stderr, "safehousectl: unknown command \"%s\"\n", cmd);
		usage(stderr);
		goto out;
	}

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
