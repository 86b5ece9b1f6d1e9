/*
 * modem.c: the GSM modem's worker thread and its two channels (modem.h).
 *
 * The thread owns the serial port and everything the dialogue needs; the
 * loop side owns the channels, the callbacks and a copy of the fault text.
 * They meet in jobs: a try goes to the thread as a job and comes back as
 * the same job holding its result; incoming SMS, calls and fault changes
 * are jobs the thread makes.
 *
 * The thread waits in poll(2) on the serial port and an eventfd that
 * modem_channel's send() kicks, so that an unsolicited +CMTI or RING is
 * read while idle and a new try starts at once. worker_next() is called
 * with a past deadline only to take the queued jobs.
 */
#include "modem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "gsm.h"
#include "log.h"
#include "loop.h"
#include "worker.h"

#define PENDING_MAX 16   /* tries queued at once; more: -EAGAIN */
#define LINE_MAX_LEN 600 /* a PDU line is at most 2 * 176 + a little */
#define REPLY_LINES 16   /* information lines kept of one reply */
#define URC_MAX 16       /* unsolicited lines waiting to be handled */
#define CMD_TIMEOUT_MS 5000
#define PROMPT_TIMEOUT_MS 10000
#define CMGS_TIMEOUT_MS 60000 /* the network's answer to one part */
#define DIAL_TIMEOUT_MS 20000
#define REOPEN_MAX_MS 30000
#define SMS_TEXT_MAX 2048
#define CONCAT_SETS 4         /* long replies being put together at once */
#define CONCAT_PARTS 16       /* parts of one; longer ones go part by part */
#define CONCAT_WAIT_MS 600000 /* a part missing this long: give what came */

enum mjob_kind { MJ_SMS, MJ_CALL, MJ_RESULT, MJ_SMS_IN, MJ_CALL_IN, MJ_FAULT };

struct mjob {
	struct worker_job j; /* first: jobs are cast back */
	enum mjob_kind kind;
	enum contact_via via; /* MJ_RESULT: which channel */
	int64_t seq;
	enum channel_result res;
	char phone[40];
	char *text; /* MJ_SMS, MJ_SMS_IN: malloc'd */
	char detail[160];
};

enum at_rc { AT_OK = 0, AT_FAIL = -1, AT_TIMEOUT = -2, AT_GONE = -3 };

#define AT_DIAL 1 /* NO CARRIER, BUSY, NO ANSWER end this command */

struct at_reply {
	enum gsm_final final;
	int code; /* +CME/+CMS ERROR number */
	int nlines;
	char lines[REPLY_LINES][LINE_MAX_LEN];
};

/* The parts of one concatenated SMS that came so far. */
struct concat {
	int used;
	char from[40];
	unsigned ref;
	int total, have;
	int64_t first_ms;
	char *text[CONCAT_PARTS];
};

struct modem {
	/* ---- shared ---- */
	struct worker_done *done;
	struct worker *w;
	int wakefd;
	atomic_int stopping;

	/* ---- loop side ---- */
	struct loop *loop;
	struct channel ch[2]; /* sms, call */
	modem_sms_fn on_sms;
	modem_call_fn on_call;
	void *in_ctx;
	char fault[96]; /* "" when fine */
	int pending;
	int signal;
	atomic_int signal_shared;

	/* ---- thread side ---- */
	char *device, *pin_file;
	int baud, ring_s, check_s;
	int fd;
	char rbuf[4096];
	size_t rlen;
	char urc[URC_MAX][LINE_MAX_LEN];
	int nurc;
	int setup_done, registered;
	int pin_refused; /* a PIN the SIM refused is never sent again */
	int64_t next_check, reopen_at, reopen_ms, ring_at;
	char last_fault[96];
	char last_caller[40];
	int64_t last_call_ms;
	unsigned ref;
	struct concat concat[CONCAT_SETS];
};

/* ---- thread: the serial port ---------------------------------------------- */

static speed_t baud_const(int baud)
{
	switch (baud) {
	case 9600:
		return B9600;
	case 19200:
		return B19200;
	case 38400:
		return B38400;
	case 57600:
		return B57600;
	case 230400:
		return B230400;
	case 460800:
		return B460800;
	case 921600:
		return B921600;
	default:
		return B115200;
	}
}

static int port_open(struct modem *m)
{
	struct termios t;
	int fd = open(m->device, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &t) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	cfmakeraw(&t);
	cfsetispeed(&t, baud_const(m->baud));
	cfsetospeed(&t, baud_const(m->baud));
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)CRTSCTS;
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	/* Nobody else (a getty, ModemManager opening it later) may talk to
	 * the modem in the middle of our dialogue. */
	ioctl(fd, TIOCEXCL);
	tcflush(fd, TCIOFLUSH);
	m->fd = fd;
	m->rlen = 0;
	return 0;
}

static void set_fault(struct modem *m, const char *text);

/* The port went away (unplugged, the USB modem rebooted): close it and
 * reopen later, sooner the first times. */
static void port_gone(struct modem *m, const char *why)
{
	if (m->fd >= 0) {
		log_warn("modem: %s: %s; reopening", m->device, why);
		close(m->fd);
	}
	m->fd = -1;
	m->setup_done = 0;
	m->registered = 0;
	m->reopen_ms = m->reopen_ms ? m->reopen_ms * 2 : 1000;
	if (m->reopen_ms > REOPEN_MAX_MS)
		m->reopen_ms = REOPEN_MAX_MS;
	m->reopen_at = loop_mono_ms() + m->reopen_ms;
	set_fault(m, "modem: not connected");
}

static int port_write(struct modem *m, const char *s, size_t n)
{
	int64_t until = loop_mono_ms() + 2000;

	while (n && m->fd >= 0) {
		ssize_t k = write(m->fd, s, n);
		if (k > 0) {
			s += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR) {
			port_gone(m, strerror(errno));
			return AT_GONE;
		}
		if (loop_mono_ms() > until)
			return AT_TIMEOUT;
		struct pollfd p = {.fd = m->fd, .events = POLLOUT};
		poll(&p, 1, 100);
	}
	return m->fd >= 0 ? AT_OK : AT_GONE;
}

/* Take one line out of rbuf (without CR LF), or the "> " prompt as ">".
 * Returns 1, or 0 when no whole line is there. */
static int line_take(struct modem *m, char *line, size_t size)
{
	size_t skip = 0, n;

	while (skip < m->rlen && (m->rbuf[skip] == '\r' || m->rbuf[skip] == '\n'))
		skip++;
	memmove(m->rbuf, m->rbuf + skip, m->rlen - skip);
	m->rlen -= skip;
	if (!m->rlen)
		return 0;
	if (m->rbuf[0] == '>') {
		n = m->rlen > 1 && m->rbuf[1] == ' ' ? 2 : 1;
		snprintf(line, size, ">");
	} else {
		char *e = memchr(m->rbuf, '\n', m->rlen);
		char *r = memchr(m->rbuf, '\r', m->rlen);
		if (r && (!e || r < e))
			e = r;
		if (!e && m->rlen < sizeof(m->rbuf))
			return 0;
		/* a line longer than the buffer is cut where it is */
		n = e ? (size_t)(e - m->rbuf) : m->rlen;
		snprintf(line, size, "%.*s", (int)(n < size ? n : size - 1), m->rbuf);
		if (e)
			n++;
	}
	memmove(m->rbuf, m->rbuf + n, m->rlen - n);
	m->rlen -= n;
	return 1;
}

/* The next line within timeout_ms: 1, 0 on timeout or stop, AT_GONE. */
static int line_read(struct modem *m, int timeout_ms, char *line, size_t size)
{
	int64_t until = loop_mono_ms() + timeout_ms;

	for (;;) {
		struct pollfd p;
		int64_t left;
		ssize_t k;

		if (m->fd < 0)
			return AT_GONE;
		if (line_take(m, line, size))
			return 1;
		left = until - loop_mono_ms();
		if (left <= 0 || atomic_load(&m->stopping))
			return 0;
		p = (struct pollfd){.fd = m->fd, .events = POLLIN};
		/* short slices: a stop must not wait for a 60 s reply */
		if (poll(&p, 1, (int)(left < 200 ? left : 200)) < 0 && errno != EINTR)
			return 0;
		if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) {
			port_gone(m, "hung up");
			return AT_GONE;
		}
		if (!(p.revents & POLLIN))
			continue;
		k = read(m->fd, m->rbuf + m->rlen, sizeof(m->rbuf) - m->rlen);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
			port_gone(m, k == 0 ? "end of file" : strerror(errno));
			return AT_GONE;
		}
		if (k > 0)
			m->rlen += (size_t)k;
	}
}

static void urc_push(struct modem *m, const char *line)
{
	if (m->nurc < URC_MAX)
		snprintf(m->urc[m->nurc++], LINE_MAX_LEN, "%s", line);
	else
		log_warn("modem: too many unsolicited lines; dropped \"%s\"", line);
}

/* One command: cmd, then (when body is set) the "> " prompt, body and
 * Ctrl-Z; then lines until the final result. Lines that start with
 * prefix are the reply; other unsolicited lines are kept for later. */
static int at_cmd(struct modem *m, const char *cmd, const char *body, const char *prefix,
                  int timeout_ms, int flags, struct at_reply *r)
{
	char line[LINE_MAX_LEN];
	int rc;

	memset(r, 0, offsetof(struct at_reply, lines));
	r->code = -1;
	if (m->fd < 0)
		return AT_GONE;
	if (strncmp(cmd, "AT+CPIN=", 8) == 0)
		log_debug("modem: > AT+CPIN=****");
	else
		log_debug("modem: > %s", cmd);
	if ((rc = port_write(m, cmd, strlen(cmd))) < 0 || (rc = port_write(m, "\r", 1)) < 0)
		return rc;
	if (body) {
		for (;;) {
			rc = line_read(m, PROMPT_TIMEOUT_MS, line, sizeof(line));
			if (rc <= 0) {
				/* ESC cancels the message the modem may still wait for */
				if (rc == 0)
					port_write(m, "\x1b", 1);
				return rc == 0 ? AT_TIMEOUT : rc;
			}
			if (strcmp(line, ">") == 0)
				break;
			if (gsm_is_urc(line)) {
				urc_push(m, line);
				continue;
			}
			r->final = gsm_final(line, &r->code);
			if (r->final != GSM_NOT_FINAL && r->final != GSM_NO_CARRIER &&
			    r->final != GSM_BUSY && r->final != GSM_NO_ANSWER)
				return AT_FAIL;
		}
		if ((rc = port_write(m, body, strlen(body))) < 0 ||
		    (rc = port_write(m, "\x1a", 1)) < 0)
			return rc;
	}
	for (;;) {
		enum gsm_final f;
		rc = line_read(m, timeout_ms, line, sizeof(line));
		if (rc == 0)
			return AT_TIMEOUT;
		if (rc < 0)
			return rc;
		if (strcmp(line, cmd) == 0 || strcmp(line, ">") == 0)
			continue; /* echo (before the log: it may hold the PIN), a stray prompt */
		log_debug("modem: < %s", line);
		if (prefix && strncmp(line, prefix, strlen(prefix)) == 0) {
			if (r->nlines < REPLY_LINES)
				snprintf(r->lines[r->nlines++], LINE_MAX_LEN, "%s", line);
			continue;
		}
		f = gsm_final(line, &r->code);
		if ((f == GSM_NO_CARRIER || f == GSM_BUSY || f == GSM_NO_ANSWER) &&
		    !(flags & AT_DIAL)) {
			urc_push(m, line); /* the end of a call, not of this command */
			continue;
		}
		if (f != GSM_NOT_FINAL) {
			r->final = f;
			return f == GSM_OK ? AT_OK : AT_FAIL;
		}
		if (gsm_is_urc(line)) {
			urc_push(m, line);
			continue;
		}
		if (r->nlines < REPLY_LINES)
			snprintf(r->lines[r->nlines++], LINE_MAX_LEN, "%s", line);
	}
}

/* ---- thread: state ---------------------------------------------------------- */

static void post(struct modem *m, struct mjob *j)
{
	worker_reply(m->w, &j->j);
}

static void set_fault(struct modem *m, const char *text)
{
	struct mjob *j;

	if (!text)
		text = "";
	if (strcmp(text, m->last_fault) == 0)
		return;
	if (*text)
		log_warn("%s", text);
	else
		log_notice("modem: ready on %s", m->device);
	snprintf(m->last_fault, sizeof(m->last_fault), "%s", text);
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->kind = MJ_FAULT;
	snprintf(j->detail, sizeof(j->detail), "%s", text);
	post(m, j);
}

/* The PIN from pin_file (config.c checked its mode and form). */
static int read_pin(const struct modem *m, char *pin, size_t size)
{
	FILE *f = fopen(m->pin_file, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(pin, 1, size - 1, f);
	fclose(f);
	pin[n] = '\0';
	pin[strcspn(pin, "\r\n")] = '\0';
	return pin[0] && strspn(pin, "0123456789") == strlen(pin) ? 0 : -1;
}

/* The SIM: 0 when ready, else the fault is set. */
static int sim_check(struct modem *m)
{
	struct at_reply r;
	char pin[16], cmd[32];
	int rc = at_cmd(m, "AT+CPIN?", NULL, "+CPIN:", CMD_TIMEOUT_MS, 0, &r);
	const char *st = r.nlines ? r.lines[0] + 6 : "";

	while (*st == ' ')
		st++;
	if (rc == AT_OK && strcmp(st, "READY") == 0)
		return 0;
	if (rc == AT_TIMEOUT || rc == AT_GONE) {
		if (rc == AT_TIMEOUT)
			set_fault(m, "modem: not answering");
		return -1;
	}
	if (rc == AT_FAIL || strncmp(st, "SIM PIN", 7) != 0) {
		if (strncmp(st, "SIM PUK", 7) == 0)
			set_fault(m, "modem: SIM locked (PUK)");
		else
			set_fault(m, "modem: no SIM"); /* +CME ERROR 10, 13; ERROR */
		return -1;
	}
	/* Three wrong PINs lock the SIM: one try per start of the daemon. */
	if (!m->pin_file) {
		set_fault(m, "modem: SIM needs a PIN (set modem.pin_file)");
		return -1;
	}
	if (m->pin_refused || read_pin(m, pin, sizeof(pin)) < 0) {
		set_fault(m, "modem: wrong SIM PIN");
		return -1;
	}
	log_notice("modem: sending the SIM PIN from %s", m->pin_file);
	snprintf(cmd, sizeof(cmd), "AT+CPIN=%s", pin);
	rc = at_cmd(m, cmd, NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	memset(pin, 0, sizeof(pin));
	memset(cmd, 0, sizeof(cmd));
	if (rc == AT_FAIL) {
		m->pin_refused = 1;
		log_err("modem: the SIM refused the PIN in %s; not trying again (a third wrong "
		        "PIN locks the SIM): fix the file and restart",
		        m->pin_file);
		set_fault(m, "modem: wrong SIM PIN");
		return -1;
	}
	return rc == AT_OK ? 0 : -1;
}

/* Registration (CS, else LTE) and signal: sets registered and the fault. */
static int network_check(struct modem *m)
{
	struct at_reply r;
	int rc, stat = -1, estat = -1, csq = -1;

	rc = at_cmd(m, "AT+CREG?", NULL, "+CREG:", CMD_TIMEOUT_MS, 0, &r);
	if (rc == AT_TIMEOUT || rc == AT_GONE) {
		if (rc == AT_TIMEOUT) {
			set_fault(m, "modem: not answering");
			m->setup_done = 0;
		}
		m->registered = 0;
		return -1;
	}
	if (rc == AT_OK && r.nlines)
		stat = gsm_parse_creg(r.lines[0], 0);
	if (stat != 1 && stat != 5) {
		/* an LTE-only modem (EC25 on a 4G network) registers here */
		if (at_cmd(m, "AT+CEREG?", NULL, "+CEREG:", CMD_TIMEOUT_MS, 0, &r) == AT_OK &&
		    r.nlines)
			estat = gsm_parse_creg(r.lines[0], 0);
	}
	if (at_cmd(m, "AT+CSQ", NULL, "+CSQ:", CMD_TIMEOUT_MS, 0, &r) == AT_OK && r.nlines)
		csq = gsm_parse_csq(r.lines[0]);
	atomic_store(&m->signal_shared, csq);
	m->registered = stat == 1 || stat == 5 || estat == 1 || estat == 5;
	if (!m->registered) {
		if (strcmp(m->last_fault, "modem: no network") != 0)
			log_info("modem: not registered (CREG %d, CEREG %d, signal %d)", stat,
			         estat, csq);
		set_fault(m, "modem: no network");
		return -1;
	}
	set_fault(m, NULL);
	return 0;
}

static void sms_read(struct modem *m, int index);

/* Messages already stored (arrived while we were away, or their +CMTI was
 * lost): read and delete every one. */
static void sms_list(struct modem *m)
{
	struct at_reply r;
	int idx[REPLY_LINES], n = 0;

	if (at_cmd(m, "AT+CMGL=4", NULL, NULL, CMD_TIMEOUT_MS, 0, &r) != AT_OK)
		return;
	for (int i = 0; i < r.nlines; i++) {
		int k = gsm_parse_first_int(r.lines[i], "+CMGL:");
		if (k >= 0 && n < REPLY_LINES)
			idx[n++] = k;
	}
	for (int i = 0; i < n; i++)
		sms_read(m, idx[i]);
}

/* Open (when needed) and set the modem up: echo off, numeric errors, the
 * SIM, PDU mode, +CMTI for new SMS, +CLIP for callers, +CREG changes. */
static void setup(struct modem *m)
{
	struct at_reply r;
	int rc = AT_TIMEOUT;

	m->next_check = loop_mono_ms() + (int64_t)m->check_s * 1000;
	if (m->fd < 0) {
		int e = port_open(m);
		if (e < 0) {
			if (strcmp(m->last_fault, "modem: not connected") != 0)
				log_warn("modem: cannot open %s: %s", m->device, strerror(-e));
			port_gone(m, strerror(-e));
			return;
		}
		log_info("modem: opened %s at %d baud", m->device, m->baud);
	}
	m->reopen_ms = 0;
	/* Three tries the first time; a modem already known dead gets one, so
	 * that a queued try is answered sooner. */
	for (int i = strcmp(m->last_fault, "modem: not answering") ? 0 : 2;
	     i < 3 && rc == AT_TIMEOUT; i++)
		rc = at_cmd(m, "AT", NULL, NULL, 3000, 0, &r);
	if (rc != AT_OK) {
		if (rc != AT_GONE)
			set_fault(m, "modem: not answering");
		return;
	}
	at_cmd(m, "ATE0", NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	at_cmd(m, "AT+CMEE=1", NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	if (sim_check(m) < 0)
		return;
	if ((rc = at_cmd(m, "AT+CMGF=0", NULL, NULL, CMD_TIMEOUT_MS, 0, &r)) != AT_OK ||
	    (rc = at_cmd(m, "AT+CNMI=2,1,0,0,0", NULL, NULL, CMD_TIMEOUT_MS, 0, &r)) != AT_OK ||
	    (rc = at_cmd(m, "AT+CLIP=1", NULL, NULL, CMD_TIMEOUT_MS, 0, &r)) != AT_OK) {
		/* An ERROR here is a SIM still starting (seconds after its
		 * PIN): the next check sets up again. */
		if (rc == AT_TIMEOUT)
			set_fault(m, "modem: not answering");
		else if (rc == AT_FAIL)
			set_fault(m, "modem: SIM not ready");
		return;
	}
	at_cmd(m, "AT+CREG=1", NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	m->setup_done = 1;
	network_check(m);
	sms_list(m);
}

/* ---- thread: incoming ------------------------------------------------------- */

static void sms_in_post(struct modem *m, const char *from, const char *text)
{
	struct mjob *j = calloc(1, sizeof(*j));

	if (j && (j->text = strdup(text))) {
		j->kind = MJ_SMS_IN;
		snprintf(j->phone, sizeof(j->phone), "%s", from);
		post(m, j);
	} else {
		free(j);
	}
}

/* Anyone can send the gateway an SMS: its text goes into the log on one
 * line, control characters shown as '?', cut at 200 bytes. */
static void log_sms(const char *from, const char *text)
{
	char buf[204];
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p && o < 200; p++)
		buf[o++] = *p < 32 || *p == 127 ? '?' : (char)*p;
	/* never end inside a UTF-8 sequence */
	while (o && text[o] && ((unsigned char)text[o] & 0xC0) == 0x80)
		o--;
	buf[o] = '\0';
	log_info("modem: SMS from %s: \"%s\"%s", from, buf, text[o] ? "..." : "");
}

/* Hand over what came of a long SMS, in order, and forget it. */
static void concat_flush(struct modem *m, struct concat *c)
{
	size_t len = 1;
	char *text;

	for (int i = 0; i < c->total; i++)
		len += c->text[i] ? strlen(c->text[i]) : 0;
	text = malloc(len);
	if (text) {
		text[0] = '\0';
		for (int i = 0; i < c->total; i++)
			if (c->text[i])
				strcat(text, c->text[i]);
		if (c->have < c->total)
			log_warn("modem: SMS from %s: %d of its %d parts came", c->from, c->have,
			         c->total);
		log_sms(c->from, text);
		sms_in_post(m, c->from, text);
		free(text);
	}
	for (int i = 0; i < c->total; i++) {
		free(c->text[i]);
		c->text[i] = NULL;
	}
	c->used = 0;
}

/* A reply in several parts is one reply: parts wait for each other (in
 * any order) up to CONCAT_WAIT_MS. */
static void concat_add(struct modem *m, const struct gsm_deliver *d)
{
	struct concat *c = NULL;

	if (!d->concat || d->total <= 1 || d->total > CONCAT_PARTS || d->seq < 1 ||
	    d->seq > d->total) {
		log_sms(d->from, d->text);
		sms_in_post(m, d->from, d->text);
		return;
	}
	for (int i = 0; i < CONCAT_SETS && !c; i++) {
		struct concat *k = &m->concat[i];
		if (k->used && k->ref == d->ref && k->total == d->total &&
		    strcmp(k->from, d->from) == 0)
			c = k;
	}
	if (!c) {
		/* a free set, else the oldest one gives what it has */
		c = &m->concat[0];
		for (int i = 1; i < CONCAT_SETS && c->used; i++)
			if (!m->concat[i].used || m->concat[i].first_ms < c->first_ms)
				c = &m->concat[i];
		if (c->used)
			concat_flush(m, c);
		memset(c, 0, sizeof(*c));
		c->used = 1;
		snprintf(c->from, sizeof(c->from), "%s", d->from);
		c->ref = d->ref;
		c->total = d->total;
		c->first_ms = loop_mono_ms();
	}
	if (!c->text[d->seq - 1]) {
		c->text[d->seq - 1] = strdup(d->text);
		c->have += c->text[d->seq - 1] != NULL;
	}
	if (c->have == c->total)
		concat_flush(m, c);
}

static void concat_expire(struct modem *m)
{
	for (int i = 0; i < CONCAT_SETS; i++) {
		struct concat *c = &m->concat[i];
		if (c->used && loop_mono_ms() - c->first_ms > CONCAT_WAIT_MS)
			concat_flush(m, c);
	}
}

static void sms_read(struct modem *m, int index)
{
	struct at_reply r;
	struct gsm_deliver d;
	char cmd[32];
	int rc;

	snprintf(cmd, sizeof(cmd), "AT+CMGR=%d", index);
	rc = at_cmd(m, cmd, NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	if (rc != AT_OK) {
		log_warn("modem: cannot read SMS %d (%s)", index,
		         rc == AT_FAIL ? "error" : "no reply");
		return;
	}
	/* "+CMGR: <stat>,,<len>" then the PDU */
	if (r.nlines < 2 || gsm_deliver_decode(r.lines[1], &d) < 0)
		log_warn("modem: SMS %d is not a readable SMS-DELIVER; deleted", index);
	else
		concat_add(m, &d);
	/* Deleted once read: a full SIM takes no more messages. */
	snprintf(cmd, sizeof(cmd), "AT+CMGD=%d", index);
	at_cmd(m, cmd, NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
}

static void call_in(struct modem *m, const char *from)
{
	struct at_reply r;
	struct mjob *j;
	int64_t now = loop_mono_ms();

	at_cmd(m, "ATH", NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	m->ring_at = 0;
	/* RING and +CLIP repeat until the hang-up is through: one call */
	if ((!*from || strcmp(from, m->last_caller) == 0) && now - m->last_call_ms < 15000)
		return;
	snprintf(m->last_caller, sizeof(m->last_caller), "%s", from);
	m->last_call_ms = now;
	log_info("modem: call from %s rejected", *from ? from : "a hidden number");
	if (!*from)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->kind = MJ_CALL_IN;
	snprintf(j->phone, sizeof(j->phone), "%s", from);
	post(m, j);
}

/* Act on the unsolicited lines kept so far (not the ends of calls: a
 * call in progress takes those itself). */
static void urc_handle(struct modem *m)
{
	while (m->nurc && m->fd >= 0) {
		char line[LINE_MAX_LEN], num[40];
		int k;

		snprintf(line, sizeof(line), "%s", m->urc[0]);
		memmove(m->urc[0], m->urc[1], (size_t)(m->nurc - 1) * LINE_MAX_LEN);
		m->nurc--;
		log_debug("modem: urc %s", line);
		if ((k = gsm_parse_cmti(line)) >= 0) {
			sms_read(m, k);
		} else if (gsm_parse_clip(line, num, sizeof(num)) == 0) {
			call_in(m, num);
		} else if (strcmp(line, "RING") == 0 || strncmp(line, "+CRING:", 7) == 0) {
			if (!m->ring_at)
				m->ring_at = loop_mono_ms();
		} else if (strncmp(line, "+CREG:", 6) == 0 || strncmp(line, "+CEREG:", 7) == 0) {
			/* check both at once rather than trust one line */
			int st = gsm_parse_creg(line, 1);
			if (st != 1 && st != 5 && m->registered)
				network_check(m);
			else if ((st == 1 || st == 5) && !m->registered)
				m->next_check = 0;
		} else if (strcmp(line, "RDY") == 0 || strcmp(line, "Call Ready") == 0 ||
		           strncmp(line, "+CPIN: NOT READY", 16) == 0 ||
		           strcmp(line, "NORMAL POWER DOWN") == 0) {
			/* the modem restarted: set it up again */
			if (m->setup_done)
				log_warn("modem: the modem restarted (%s)", line);
			m->setup_done = 0;
			m->next_check = loop_mono_ms() + 2000;
		}
	}
	/* A RING without a +CLIP within a second: a hidden number */
	if (m->ring_at && loop_mono_ms() - m->ring_at > 1500 && m->fd >= 0)
		call_in(m, "");
}

/* ---- thread: tries ----------------------------------------------------------- */

static int ready(struct modem *m, struct mjob *j)
{
	/* A try does not wait for the next check to find the modem back */
	if ((m->fd < 0 && loop_mono_ms() >= m->reopen_at) || (m->fd >= 0 && !m->setup_done))
		setup(m);
	else if (m->fd >= 0 && m->setup_done && !m->registered)
		network_check(m);
	if (m->fd >= 0 && m->setup_done && m->registered)
		return 1;
	j->res = CHANNEL_RETRY;
	snprintf(j->detail, sizeof(j->detail), "%s",
	         m->last_fault[0] ? m->last_fault : "modem: not ready");
	return 0;
}

static void sms_send(struct modem *m, struct mjob *j)
{
	struct gsm_pdu *parts = calloc(GSM_PARTS_MAX, sizeof(*parts));
	struct at_reply r;
	int n, cut = 0;

	if (!parts) {
		j->res = CHANNEL_RETRY;
		snprintf(j->detail, sizeof(j->detail), "out of memory");
		return;
	}
	n = gsm_sms_encode(j->phone, j->text, m->ref++ & 0xFF, parts, GSM_PARTS_MAX, &cut);
	if (n == -EINVAL) {
		j->res = CHANNEL_FAILED;
		snprintf(j->detail, sizeof(j->detail), "invalid phone number \"%s\"", j->phone);
		goto out;
	}
	if (n < 0) {
		j->res = CHANNEL_RETRY;
		snprintf(j->detail, sizeof(j->detail), "out of memory");
		goto out;
	}
	if (cut)
		log_warn("modem: SMS to %s cut to %d parts", j->phone, GSM_PARTS_MAX);
	if (!ready(m, j))
		goto out;
	for (int i = 0; i < n; i++) {
		char cmd[32];
		int rc;

		snprintf(cmd, sizeof(cmd), "AT+CMGS=%d", parts[i].tpdu_len);
		rc = at_cmd(m, cmd, parts[i].hex, "+CMGS:", CMGS_TIMEOUT_MS, 0, &r);
		if (rc == AT_OK)
			continue;
		j->res = CHANNEL_RETRY;
		if (rc == AT_FAIL && r.final == GSM_CMS_ERROR) {
			if (gsm_cms_permanent(r.code))
				j->res = CHANNEL_FAILED;
			snprintf(j->detail, sizeof(j->detail), "+CMS ERROR %d (part %d of %d)",
			         r.code, i + 1, n);
		} else if (rc == AT_FAIL) {
			snprintf(j->detail, sizeof(j->detail), "modem error (part %d of %d)", i + 1,
			         n);
		} else if (rc == AT_TIMEOUT) {
			snprintf(j->detail, sizeof(j->detail),
			         "no reply to AT+CMGS (part %d of %d)", i + 1, n);
		} else {
			snprintf(j->detail, sizeof(j->detail), "modem: not connected");
		}
		log_warn("modem: SMS to %s: %s", j->phone, j->detail);
		goto out;
	}
	j->res = CHANNEL_DELIVERED;
	if (n > 1)
		snprintf(j->detail, sizeof(j->detail), "sent in %d parts", n);
	else
		snprintf(j->detail, sizeof(j->detail), "sent");
	log_info("modem: SMS to %s %s", j->phone, j->detail);
out:
	free(parts);
}

/* An end-of-call line kept while polling: its outcome, or 0. */
static int call_end_taken(struct modem *m, char *detail, size_t size)
{
	for (int i = 0; i < m->nurc; i++) {
		enum gsm_final f = gsm_final(m->urc[i], NULL);
		if (f == GSM_BUSY || f == GSM_NO_ANSWER || f == GSM_NO_CARRIER) {
			snprintf(detail, size, "%s",
			         f == GSM_BUSY        ? "busy"
			         : f == GSM_NO_ANSWER ? "no answer"
			                              : "no carrier (refused or cut)");
			memmove(m->urc[i], m->urc[i + 1], (size_t)(m->nurc - i - 1) * LINE_MAX_LEN);
			m->nurc--;
			return 1;
		}
	}
	return 0;
}

/* ATD, then AT+CLCC every second until the call is active (answered),
 * ends, or rings ring_s. SIM800 and EC25 both answer ATD with OK at once
 * (no AT+COLP), and both list an active outgoing call as +CLCC stat 0. */
static void call_place(struct modem *m, struct mjob *j)
{
	struct at_reply r;
	char cmd[64];
	int64_t until;
	int rc, seen = 0;

	if (!gsm_number_ok(j->phone)) {
		j->res = CHANNEL_FAILED;
		snprintf(j->detail, sizeof(j->detail), "invalid phone number \"%s\"", j->phone);
		return;
	}
	if (!ready(m, j))
		return;
	j->res = CHANNEL_RETRY;
	snprintf(cmd, sizeof(cmd), "ATD%s;", j->phone);
	rc = at_cmd(m, cmd, NULL, NULL, DIAL_TIMEOUT_MS, AT_DIAL, &r);
	if (rc != AT_OK) {
		snprintf(j->detail, sizeof(j->detail), "%s",
		         rc == AT_TIMEOUT             ? "no reply to ATD"
		         : rc == AT_GONE              ? "modem: not connected"
		         : r.final == GSM_BUSY        ? "busy"
		         : r.final == GSM_NO_ANSWER   ? "no answer"
		         : r.final == GSM_NO_CARRIER  ? "no carrier (refused or cut)"
		         : r.final == GSM_NO_DIALTONE ? "no dial tone"
		                                      : "the modem refused ATD");
		goto hangup;
	}
	until = loop_mono_ms() + (int64_t)m->ring_s * 1000;
	while (loop_mono_ms() < until && !atomic_load(&m->stopping)) {
		char line[LINE_MAX_LEN];
		int active = 0, ours = 0;

		if (call_end_taken(m, j->detail, sizeof(j->detail)))
			goto hangup;
		rc = at_cmd(m, "AT+CLCC", NULL, "+CLCC:", CMD_TIMEOUT_MS, 0, &r);
		if (rc == AT_GONE) {
			snprintf(j->detail, sizeof(j->detail), "modem: not connected");
			return;
		}
		for (int i = 0; rc == AT_OK && i < r.nlines; i++) {
			int dir, stat;
			if (gsm_parse_clcc(r.lines[i], &dir, &stat) == 0 && dir == 0) {
				ours = 1;
				active |= stat == 0;
			}
		}
		if (active) {
			j->res = CHANNEL_DELIVERED;
			snprintf(j->detail, sizeof(j->detail), "answered");
			goto hangup;
		}
		if (call_end_taken(m, j->detail, sizeof(j->detail)))
			goto hangup;
		if (rc == AT_OK && !ours && seen) {
			/* listed before, gone now, and no end line: it ended */
			snprintf(j->detail, sizeof(j->detail), "no carrier (refused or cut)");
			goto hangup;
		}
		seen |= ours;
		/* a second between polls, reading what comes meanwhile */
		rc = line_read(m, 1000, line, sizeof(line));
		if (rc == AT_GONE) {
			snprintf(j->detail, sizeof(j->detail), "modem: not connected");
			return;
		}
		if (rc == 1)
			urc_push(m, line);
	}
	snprintf(j->detail, sizeof(j->detail), "no answer in %d s", m->ring_s);
hangup:
	at_cmd(m, "ATH", NULL, NULL, CMD_TIMEOUT_MS, 0, &r);
	/* the NO CARRIER our own ATH may cause is not news */
	call_end_taken(m, cmd, sizeof(cmd));
	log_info("modem: call to %s: %s", j->phone, j->detail);
}

static void job_run(struct modem *m, struct mjob *j)
{
	if (j->kind == MJ_SMS)
		sms_send(m, j);
	else
		call_place(m, j);
	j->via = j->kind == MJ_SMS ? VIA_SMS : VIA_CALL;
	j->kind = MJ_RESULT;
	free(j->text);
	j->text = NULL;
	post(m, j);
}

static void free_job(struct worker_job *wj)
{
	struct mjob *j = (struct mjob *)wj;
	free(j->text);
	free(j);
}

/* Read what the port has, without waiting; a hang-up closes it. */
static void port_fill(struct modem *m, short revents)
{
	ssize_t k;

	if (m->fd < 0)
		return;
	if (!(revents & POLLIN)) {
		if (revents & (POLLHUP | POLLERR | POLLNVAL))
			port_gone(m, "hung up");
		return;
	}
	k = read(m->fd, m->rbuf + m->rlen, sizeof(m->rbuf) - m->rlen);
	if (k > 0)
		m->rlen += (size_t)k;
	else if (k == 0 || (errno != EAGAIN && errno != EINTR))
		port_gone(m, k == 0 ? "end of file" : strerror(errno));
}

/* Every check_s: set up when not, else registration, signal and stored
 * SMS. */
static void periodic(struct modem *m)
{
	int64_t now = loop_mono_ms();

	if (m->fd < 0) {
		if (now >= m->reopen_at)
			setup(m);
		return;
	}
	if (now < m->next_check)
		return;
	m->next_check = now + (int64_t)m->check_s * 1000;
	if (!m->setup_done) {
		setup(m);
		return;
	}
	network_check(m);
	if (m->fd >= 0 && m->setup_done)
		sms_list(m);
	concat_expire(m);
}

static void thread_run(struct worker *w, void *ctx)
{
	struct modem *m = ctx;

	for (;;) {
		struct worker_job *jobs, *next;
		char line[LINE_MAX_LEN];
		struct pollfd p[2];
		int64_t now, due;
		int np = 0, stop;

		stop = worker_next(w, 0, &jobs) || atomic_load(&m->stopping);
		if (stop) {
			/* tries never run get no done(): the daemon is going */
			for (; jobs; jobs = next) {
				next = jobs->next;
				free_job(jobs);
			}
			break;
		}
		periodic(m);
		for (; jobs; jobs = next) {
			next = jobs->next;
			job_run(m, (struct mjob *)jobs);
			urc_handle(m);
		}
		while (m->fd >= 0 && line_take(m, line, sizeof(line))) {
			if (gsm_is_urc(line) || gsm_final(line, NULL) != GSM_NOT_FINAL)
				urc_push(m, line);
			else
				log_debug("modem: ignored \"%s\"", line);
		}
		urc_handle(m);

		due = m->fd < 0 ? m->reopen_at : m->next_check;
		if (m->ring_at && m->ring_at + 1600 < due)
			due = m->ring_at + 1600;
		now = loop_mono_ms();
		p[np++] = (struct pollfd){.fd = m->wakefd, .events = POLLIN};
		if (m->fd >= 0)
			p[np++] = (struct pollfd){.fd = m->fd, .events = POLLIN};
		if (poll(p, (nfds_t)np,
		         due <= now          ? 0
		         : due - now > 60000 ? 60000
		                             : (int)(due - now)) > 0) {
			uint64_t v;
			if ((p[0].revents & POLLIN) && read(m->wakefd, &v, sizeof(v)) < 0)
				v = 0;
			if (np > 1 && p[1].revents)
				port_fill(m, p[1].revents);
		}
	}
	for (int i = 0; i < CONCAT_SETS; i++)
		for (int k = 0; k < CONCAT_PARTS; k++)
			free(m->concat[i].text[k]);
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
}

/* ---- loop side ------------------------------------------------------------- */

static void on_done(void *ctx, int fd, short revents)
{
	struct modem *m = ctx;
	struct worker_job *list = worker_done_take(m->done), *next;
	(void)fd;
	(void)revents;

	for (; list; list = next) {
		struct mjob *j = (struct mjob *)list;
		next = list->next;
		switch (j->kind) {
		case MJ_RESULT: {
			struct channel *ch = &m->ch[j->via == VIA_SMS ? 0 : 1];
			m->pending--;
			if (ch->done)
				ch->done(ch->done_ctx, j->seq, j->res, j->detail);
			break;
		}
		case MJ_SMS_IN:
			if (m->on_sms)
				m->on_sms(m->in_ctx, j->phone, j->text);
			break;
		case MJ_CALL_IN:
			if (m->on_call)
				m->on_call(m->in_ctx, j->phone);
			break;
		case MJ_FAULT:
			snprintf(m->fault, sizeof(m->fault), "%.95s", j->detail);
			break;
		default:
			break;
		}
		free_job(list);
	}
	m->signal = atomic_load(&m->signal_shared);
}

static int ch_send(struct modem *m, enum mjob_kind kind, const struct channel_msg *msg)
{
	struct mjob *j;
	uint64_t one = 1;

	if (m->pending >= PENDING_MAX)
		return -EAGAIN;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -EAGAIN;
	j->kind = kind;
	j->seq = msg->seq;
	snprintf(j->phone, sizeof(j->phone), "%s",
	         msg->step && msg->step->phone ? msg->step->phone : "");
	if (kind == MJ_SMS) {
		j->text = strndup(msg->text ? msg->text : "", SMS_TEXT_MAX);
		if (!j->text) {
			free(j);
			return -EAGAIN;
		}
	}
	m->pending++;
	worker_post(m->w, &j->j, 1);
	if (write(m->wakefd, &one, sizeof(one)) < 0)
		one = 0;
	return 0;
}

static int sms_send_cb(void *impl, const struct channel_msg *msg)
{
	return ch_send(impl, MJ_SMS, msg);
}

static int call_send_cb(void *impl, const struct channel_msg *msg)
{
	return ch_send(impl, MJ_CALL, msg);
}

static const char *fault_cb(void *impl)
{
	return modem_fault(impl);
}

struct modem *modem_new(struct loop *l, const struct config_modem *cfg, char *err, size_t errlen)
{
	struct modem *m = calloc(1, sizeof(*m));

	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	m->loop = l;
	m->fd = -1;
	m->wakefd = -1;
	m->signal = -1;
	atomic_store(&m->signal_shared, -1);
	m->baud = cfg->baud;
	m->ring_s = cfg->ring_s > 0 ? cfg->ring_s : 30;
	m->check_s = cfg->check_s > 0 ? cfg->check_s : 60;
	m->device = strdup(cfg->device ? cfg->device : "");
	m->pin_file = cfg->pin_file ? strdup(cfg->pin_file) : NULL;
	/* Not connected until the thread has set the modem up. */
	snprintf(m->fault, sizeof(m->fault), "modem: not connected");
	snprintf(m->last_fault, sizeof(m->last_fault), "%s", m->fault);
	m->ch[0] =
	    (struct channel){.name = "sms", .impl = m, .send = sms_send_cb, .fault = fault_cb};
	m->ch[1] =
	    (struct channel){.name = "call", .impl = m, .send = call_send_cb, .fault = fault_cb};
	if (!m->device || (cfg->pin_file && !m->pin_file)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	m->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->wakefd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (!(m->done = worker_done_new(err, errlen)))
		goto fail;
	if (!(m->w = worker_new(m->done, 0, 0))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (loop_fd_add(l, worker_done_fd(m->done), POLLIN, on_done, m) < 0) {
		snprintf(err, errlen, "cannot watch the modem's done list");
		goto fail;
	}
	if (worker_start(m->w, thread_run, m) < 0) {
		loop_fd_del(l, worker_done_fd(m->done));
		snprintf(err, errlen, "cannot start the modem thread");
		goto fail;
	}
	return m;
fail:
	if (m->w)
		worker_stop(m->w);
	worker_done_free(m->done, NULL);
	if (m->wakefd >= 0)
		close(m->wakefd);
	free(m->device);
	free(m->pin_file);
	free(m);
	return NULL;
}

void modem_free(struct modem *m)
{
	struct worker_job *left, *next;
	uint64_t one = 1;

	if (!m)
		return;
	atomic_store(&m->stopping, 1);
	if (write(m->wakefd, &one, sizeof(one)) < 0)
		one = 0;
	loop_fd_del(m->loop, worker_done_fd(m->done));
	left = worker_stop(m->w);
	for (; left; left = next) {
		next = left->next;
		free_job(left);
	}
	worker_done_free(m->done, free_job);
	close(m->wakefd);
	free(m->device);
	free(m->pin_file);
	free(m);
}

struct channel *modem_channel(struct modem *m, enum contact_via v)
{
	if (v == VIA_SMS)
		return &m->ch[0];
	if (v == VIA_CALL)
		return &m->ch[1];
	return NULL;
}

void modem_set_incoming(struct modem *m, modem_sms_fn on_sms, modem_call_fn on_call, void *ctx)
{
	m->on_sms = on_sms;
	m->on_call = on_call;
	m->in_ctx = ctx;
}

const char *modem_fault(const struct modem *m)
{
	return m->fault[0] ? m->fault : NULL;
}

int modem_signal(const struct modem *m)
{
	return m->signal;
}
