/*
 * modem_drive.c: the real modem module (gateway/modem.c) on a real event
 * loop, driven from stdin, for the black-box tests and for trying a modem
 * by hand before the daemon uses it.
 *
 *   modem_drive --device /dev/ttyUSB2 [--baud N] [--pin-file F]
 *               [--ring-s N] [--check-s N] [--debug]
 *
 * stdin, one command a line:
 *   sms NUMBER TEXT...    send TEXT (UTF-8) as an SMS
 *   call NUMBER           place a call
 *   quit                  (or end of input) stop
 * stdout, one event a line (flushed at once):
 *   taken SEQ sms|call            send() took the try
 *   refused SEQ sms|call ERRNO    send() did not (-EAGAIN)
 *   done SEQ sms|call DELIVERED|RETRY|FAILED DETAIL
 *   fault TEXT | fault none       when the fault text changes
 *   sms-in FROM TEXT              an incoming SMS
 *   call-in FROM                  an incoming call (already rejected)
 * The log goes to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/channel.h"
#include "gateway/config.h"
#include "gateway/log.h"
#include "gateway/loop.h"
#include "gateway/modem.h"

struct drive {
	struct modem *m;
	struct loop *l;
	int quit;
	int64_t seq;
	char inbuf[8192];
	size_t inlen;
	char fault[128];
	struct config_step step;
};

static const char *result_name(enum channel_result r)
{
	return r == CHANNEL_DELIVERED ? "DELIVERED" : r == CHANNEL_RETRY ? "RETRY" : "FAILED";
}

static void on_done_sms(void *ctx, int64_t seq, enum channel_result r, const char *detail)
{
	(void)ctx;
	printf("done %lld sms %s %s\n", (long long)seq, result_name(r), detail ? detail : "");
}

static void on_done_call(void *ctx, int64_t seq, enum channel_result r, const char *detail)
{
	(void)ctx;
	printf("done %lld call %s %s\n", (long long)seq, result_name(r), detail ? detail : "");
}

static void on_sms(void *ctx, const char *from, const char *text)
{
	(void)ctx;
	printf("sms-in %s %s\n", from, text);
}

static void on_call(void *ctx, const char *from)
{
	(void)ctx;
	printf("call-in %s\n", from);
}

static void command(struct drive *d, char *line)
{
	char *verb = strtok(line, " "), *num = strtok(NULL, " "), *text = strtok(NULL, "");
	enum contact_via via;
	struct channel *ch;
	struct channel_msg msg = {0};
	int rc;

	if (!verb)
		return;
	if (strcmp(verb, "quit") == 0) {
		d->quit = 1;
		return;
	}
	if (strcmp(verb, "sms") == 0)
		via = VIA_SMS;
	else if (strcmp(verb, "call") == 0)
		via = VIA_CALL;
	else {
		fprintf(stderr, "modem_drive: unknown command \"%s\"\n", verb);
		return;
	}
	ch = modem_channel(d->m, via);
	d->step.via = via;
	d->step.phone = num ? num : "";
	msg.seq = ++d->seq;
	msg.step = &d->step;
	msg.kind = "alert";
	msg.text = text ? text : "";
	rc = ch->send(ch->impl, &msg);
	if (rc == 0)
		printf("taken %lld %s\n", (long long)msg.seq, ch->name);
	else
		printf("refused %lld %s %d\n", (long long)msg.seq, ch->name, rc);
}

static void on_stdin(void *ctx, int fd, short revents)
{
	struct drive *d = ctx;
	ssize_t k = read(fd, d->inbuf + d->inlen, sizeof(d->inbuf) - 1 - d->inlen);
	char *nl;
	(void)revents;

	if (k <= 0) {
		d->quit = 1;
		return;
	}
	d->inlen += (size_t)k;
	d->inbuf[d->inlen] = '\0';
	while ((nl = strchr(d->inbuf, '\n'))) {
		*nl = '\0';
		command(d, d->inbuf);
		d->inlen -= (size_t)(nl + 1 - d->inbuf);
		memmove(d->inbuf, nl + 1, d->inlen + 1);
	}
}

static void show_fault(struct drive *d)
{
	const char *f = modem_fault(d->m);
	if (!f)
		f = "none";
	if (strcmp(f, d->fault) != 0) {
		snprintf(d->fault, sizeof(d->fault), "%s", f);
		printf("fault %s\n", f);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"device", required_argument, NULL, 'd'},
	                                     {"baud", required_argument, NULL, 'b'},
	                                     {"pin-file", required_argument, NULL, 'p'},
	                                     {"ring-s", required_argument, NULL, 'r'},
	                                     {"check-s", required_argument, NULL, 'c'},
	                                     {"debug", no_argument, NULL, 'D'},
	                                     {NULL, 0, NULL, 0}};
	struct config_modem cfg = {.baud = 115200, .ring_s = 30, .check_s = 60};
	struct drive d = {0};
	char err[256];
	int o, level = LOG_INFO;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			cfg.device = optarg;
			break;
		case 'b':
			cfg.baud = atoi(optarg);
			break;
		case 'p':
			cfg.pin_file = optarg;
			break;
		case 'r':
			cfg.ring_s = atoi(optarg);
			break;
		case 'c':
			cfg.check_s = atoi(optarg);
			break;
		case 'D':
			level = LOG_DEBUG;
			break;
		default:
			return 2;
		}
	}
	if (!cfg.device) {
		fprintf(stderr, "usage: modem_drive --device PATH [--baud N] [--pin-file F] "
		                "[--ring-s N] [--check-s N] [--debug]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	log_init("modem_drive", 1, level);
	d.l = loop_new();
	if (!d.l)
		return 1;
	d.m = modem_new(d.l, &cfg, err, sizeof(err));
	if (!d.m) {
		fprintf(stderr, "modem_drive: %s\n", err);
		loop_free(d.l);
		return 1;
	}
	modem_channel(d.m, VIA_SMS)->done = on_done_sms;
	modem_channel(d.m, VIA_CALL)->done = on_done_call;
	modem_set_incoming(d.m, on_sms, on_call, &d);
	loop_fd_add(d.l, 0, POLLIN, on_stdin, &d);
	show_fault(&d);
	while (!d.quit) {
		loop_run_once(d.l, 200);
		show_fault(&d);
	}
	loop_fd_del(d.l, 0);
	modem_free(d.m);
	loop_free(d.l);
	return 0;
}
