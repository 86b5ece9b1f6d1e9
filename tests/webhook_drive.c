/*
 * webhook_drive.c: the real webhook module (gateway/webhook.c) on a real
 * event loop, without the outbox, for tests/blackbox/test_webhook.py.
 *
 *   webhook_drive CONFIG
 *
 * Reads commands on stdin, one a line:
 *   send SEQ CONTACT STEP KIND ZONE|- ALARM TEXT...
 * and prints, one a line, flushed:
 *   ready                          (the config loaded; commands are read)
 *   taken SEQ | busy SEQ | error SEQ WHY
 *   done SEQ delivered|retry|failed DETAIL
 * The module's log goes to stderr. Exits when stdin closes and nothing is
 * in flight (a camera photo that follows its text included).
 */
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/webhook_http.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct drive {
	struct loop *loop;
	const struct config *cfg;
	struct webhook *w;
	char line[8192];
	size_t len;
	int eof;
	int inflight;
};

static void on_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: %s\n", severity ? "warning" : "error", msg);
}

static void on_done(void *ctx, int64_t seq, enum channel_result r, const char *detail)
{
	struct drive *d = ctx;
	static const char *const names[] = {"delivered", "retry", "failed"};

	d->inflight--;
	printf("done %" PRId64 " %s %s\n", seq, names[r], detail ? detail : "");
	fflush(stdout);
}

static void command(struct drive *d, char *line)
{
	char *save = NULL, *verb = strtok_r(line, " ", &save);
	char *seq_s, *contact, *step_s, *kind, *zone, *alarm_s, *text;
	struct channel_msg m = {0};
	char payload[1024];
	int ci, step, r;

	if (!verb || strcmp(verb, "send") != 0) {
		printf("error 0 unknown command\n");
		fflush(stdout);
		return;
	}
	seq_s = strtok_r(NULL, " ", &save);
	contact = strtok_r(NULL, " ", &save);
	step_s = strtok_r(NULL, " ", &save);
	kind = strtok_r(NULL, " ", &save);
	zone = strtok_r(NULL, " ", &save);
	alarm_s = strtok_r(NULL, " ", &save);
	text = save;
	if (!text || !alarm_s) {
		printf("error 0 usage: send SEQ CONTACT STEP KIND ZONE|- ALARM TEXT\n");
		fflush(stdout);
		return;
	}
	m.seq = strtoll(seq_s, NULL, 10);
	ci = config_contact_index(d->cfg, contact);
	step = atoi(step_s);
	if (ci < 0 || step < 0 || step >= d->cfg->contacts[ci].nsteps) {
		printf("error %" PRId64 " no such contact or step\n", m.seq);
		fflush(stdout);
		return;
	}
	m.contact = &d->cfg->contacts[ci];
	m.step = &m.contact->steps[step];
	m.kind = kind;
	m.text = text;
	m.zone = strcmp(zone, "-") == 0 ? NULL : zone;
	m.alarm = strtoll(alarm_s, NULL, 10);
	snprintf(payload, sizeof(payload),
	         "{\"site\":\"%s\",\"seq\":%" PRId64 ",\"class\":\"fire\",\"zone\":\"%s\"}",
	         d->cfg->site.id, m.seq, m.zone ? m.zone : "");
	m.payload = payload;
	r = webhook_channel(d->w)->send(d->w, &m);
	if (r == 0) {
		d->inflight++;
		printf("taken %" PRId64 "\n", m.seq);
	} else if (r == -EAGAIN) {
		printf("busy %" PRId64 "\n", m.seq);
	} else {
		printf("error %" PRId64 " %s\n", m.seq, strerror(-r));
	}
	fflush(stdout);
}

static void on_stdin(void *ctx, int fd, short revents)
{
	struct drive *d = ctx;
	ssize_t n;

	(void)revents;
	n = read(fd, d->line + d->len, sizeof(d->line) - 1 - d->len);
	if (n <= 0) {
		d->eof = 1;
		loop_fd_del(d->loop, fd);
		return;
	}
	d->len += (size_t)n;
	for (;;) {
		char *nl = memchr(d->line, '\n', d->len);
		if (!nl)
			break;
		*nl = '\0';
		command(d, d->line);
		d->len -= (size_t)(nl + 1 - d->line);
		memmove(d->line, nl + 1, d->len);
	}
	if (d->len == sizeof(d->line) - 1)
		d->len = 0; /* a line too long: drop it */
}

int main(int argc, char **argv)
{
	struct drive d = {0};
	struct config *c;
	int nerr = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: webhook_drive CONFIG\n");
		return 2;
	}
	log_init("webhook_drive", 1, LOG_DEBUG);
	c = config_load(argv[1], on_diag, NULL, &nerr);
	if (!c)
		return 1;
	d.cfg = c;
	d.loop = loop_new();
	d.w = d.loop ? webhook_new(d.loop, c) : NULL;
	if (!d.w) {
		fprintf(stderr, "webhook_new failed\n");
		return 1;
	}
	webhook_channel(d.w)->done = on_done;
	webhook_channel(d.w)->done_ctx = &d;
	loop_fd_add(d.loop, 0, POLLIN, on_stdin, &d);
	printf("ready\n");
	fflush(stdout);
	while (!d.eof || d.inflight > 0 || webhook_busy(d.w))
		loop_run_once(d.loop, 100);
	webhook_free(d.w);
	loop_free(d.loop);
	config_free(c);
	return 0;
}
