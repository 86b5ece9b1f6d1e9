/*
 * bus.c: Modbus bus threads over libmodbus, one worker (worker.h) each.
 */
#include "bus.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <modbus/modbus.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sensors/modbus_point.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "worker.h"

#define BACKOFF_MAX_MS 30000
#define MB_RETRY_MAX 32    /* failed coil writes kept per bus for retry */
#define KEEPALIVE_MS 10000 /* unchanged values are still reported: supervision */
#define MAX_BITS 2000
#define MAX_REGS 125

struct mb_point {
	int sensor;
	struct config_modbus m;
	struct mbp_format fmt; /* how to decode it, from m */
	int has_last;
	double last;
	int64_t last_sent;
};

/* Contiguous points of one table of one device, read in one request. */
struct range {
	enum mb_table table;
	int start, count;
	int first, npoints; /* into the device's points, sorted by table and address */
};

struct device {
	int unit;
	int poll_ms, timeout_ms, retries;
	int64_t next_poll;
	int faulted, backoff_ms;
	uint64_t ok, errors, timeouts, exceptions;
	struct mb_point *points;
	int npoints;
	struct range *ranges;
	int nranges;
};

struct write_req {
	int output, unit, coil, on;
};

struct tool_req {
	int scan; /* 1 scan from..to, 0 read */
	int from, to;
	int unit, table, address, count;
	uint64_t token;
};

/* What the loop posts to a bus: a coil write (urgent: a siren) or a tool. */
struct bus_job {
	struct worker_job job; /* first */
	int is_tool;
	struct write_req w;
	struct tool_req t;
};

/* What a bus hands back to the loop. */
struct bus_msg {
	struct worker_job job; /* first */
	struct bus_event ev;
};

struct bus {
	struct buses *owner;
	const struct config_bus *cfg;
	int index;
	modbus_t *ctx;
	int connected;
	struct worker *w;
	struct device *dev;
	int ndev;
	/* Worker-only: coil writes that failed, tried again with backoff until
	 * they succeed or a newer write for the same output replaces them. */
	struct write_req retry[MB_RETRY_MAX];
	int nretry;
	int64_t retry_at, retry_delay_ms;
};

struct buses {
	struct bus *bus;
	int nbus;
	/* One done list for every bus: the loop watches one descriptor. */
	struct worker_done *done;
	struct worker_job *inbox; /* loop side: taken, not yet handed out */
	const struct config *cfg;
};

/* ---- to the loop --------------------------------------------------------- */

static void emit(struct bus *bus, const struct bus_event *e)
{
	struct bus_msg *m = malloc(sizeof(*m));
	if (!m)
		return; /* the same event comes again at the next poll */
	memset(&m->job, 0, sizeof(m->job));
	m->ev = *e;
	worker_reply(bus->w, &m->job);
}

static void msg_free(struct worker_job *j)
{
	struct bus_msg *m = (struct bus_msg *)j;
	free(m->ev.text);
	free(m);
}

int buses_take(struct buses *b, struct bus_event *ev)
{
	struct worker_job *j;
	if (!b)
		return 0;
	/* The done list is read only when the last batch is handed out, so
	 * its descriptor is cleared only when there is nothing left. */
	if (!b->inbox)
		b->inbox = worker_done_take(b->done);
	if (!(j = b->inbox))
		return 0;
	b->inbox = j->next;
	*ev = ((struct bus_msg *)j)->ev;
	free(j); /* ev->text is the caller's now */
	return 1;
}

int buses_fd(const struct buses *b)
{
	return b ? worker_done_fd(b->done) : -1;
}

/* ---- the worker ---------------------------------------------------------- */

static int ensure_connected(struct bus *bus)
{
	if (bus->connected)
		return 0;
	if (modbus_connect(bus->ctx) < 0)
		return -1;
	bus->connected = 1;
	return 0;
}

static void drop_connection(struct bus *bus)
{
	if (bus->connected)
		modbus_close(bus->ctx);
	bus->connected = 0;
}

/* errno after a failed call: a timeout, an exception reply, a bad reply. */
static int is_exception(int e)
{
	return e >= EMBXILFUN && e <= EMBXGTAR;
}

static int read_range(struct bus *bus, const struct range *r, uint8_t *bits, uint16_t *regs)
{
	switch (r->table) {
	case MB_DISCRETE:
		return modbus_read_input_bits(bus->ctx, r->start, r->count, bits);
	case MB_COIL:
		return modbus_read_bits(bus->ctx, r->start, r->count, bits);
	case MB_INPUT_REG:
		return modbus_read_input_registers(bus->ctx, r->start, r->count, regs);
	case MB_HOLDING_REG:
		return modbus_read_registers(bus->ctx, r->start, r->count, regs);
	}
	return -1;
}

static void device_event(struct bus *bus, struct device *d, int ok, const char *why)
{
	struct bus_event e = {.type = BUS_DEVICE, .bus = bus->index, .unit = d->unit, .ok = ok};
	/* Only the reason: the daemon words the fault in the site's language
	 * (messages.h, MSG_FAULT_MODBUS). */
	snprintf(e.msg, sizeof(e.msg), "%s", why ? why : "");
	emit(bus, &e);
}

static void poll_device(struct bus *bus, struct device *d, int64_t now)
{
	uint8_t bits[MAX_BITS];
	uint16_t regs[MAX_REGS + 1];
	int answered = 0, failed = 0;
	const char *why = NULL;

	modbus_set_slave(bus->ctx, d->unit);
	modbus_set_response_timeout(bus->ctx, (uint32_t)(d->timeout_ms / 1000),
	                            (uint32_t)(d->timeout_ms % 1000) * 1000);
	/* A device already in fault is only probed: one try of its first
	 * range, so that a dead unit costs the bus one timeout per backoff
	 * period instead of timeout x tries x ranges every time. */
	int tries = d->faulted ? 1 : d->retries + 1;
	for (int i = 0; i < d->nranges && !failed; i++) {
		const struct range *r = &d->ranges[i];
		int rc = -1, e = 0;
		for (int a = 0; a < tries; a++) {
			if (ensure_connected(bus) < 0) {
				e = errno;
				break;
			}
			rc = read_range(bus, r, bits, regs);
			if (rc >= 0)
				break;
			e = errno;
			if (is_exception(e))
				break; /* the device answered: asking again changes nothing */
			if (e == ETIMEDOUT) {
				d->timeouts++;
			} else {
				/* A bad reply (CRC, length, unit id): logged the
				 * first time and every 100th, counted always. */
				if (++d->errors % 100 == 1)
					log_warn("modbus %s unit %d: bad reply reading %d..%d: "
					         "%s (%llu so far)",
					         bus->cfg->id, d->unit, r->start,
					         r->start + r->count - 1, modbus_strerror(e),
					         (unsigned long long)d->errors);
			}
			/* A TCP peer that hung up, or a desynchronised RTU line. */
			if (e != ETIMEDOUT && bus->cfg->type == BUS_TCP)
				drop_connection(bus);
			if (bus->cfg->type == BUS_RTU)
				modbus_flush(bus->ctx);
		}
		if (rc >= 0) {
			answered = 1;
			d->ok++;
			for (int k = r->first; k < r->first + r->npoints; k++) {
				struct mb_point *p = &d->points[k];
				double v;
				int off = p->m.address - r->start;
				if (mbp_decode(&p->fmt, bits + off, regs + off, r->count - off,
				               &v) < 0)
					continue;
				/* Changes at once; the same value now and then, as a
				 * sign of life for supervision. */
				if (p->has_last && v == p->last &&
				    now - p->last_sent < KEEPALIVE_MS)
					continue;
				p->has_last = 1;
				p->last = v;
				p->last_sent = now;
				struct bus_event ev = {
				    .type = BUS_READING, .sensor = p->sensor, .value = v};
				ev.point = mbp_reading_point(
				    &p->fmt, bus->owner->cfg->sensors[p->sensor].kind);
				emit(bus, &ev);
			}
		} else if (is_exception(e)) {
			answered = 1;
			d->exceptions++;
			log_warn("modbus %s unit %d: %s reading %d..%d: %s", bus->cfg->id, d->unit,
			         "exception", r->start, r->start + r->count - 1,
			         modbus_strerror(e));
		} else {
			failed = 1;
			why = e == ETIMEDOUT ? "no answer" : modbus_strerror(e);
		}
	}
	if (answered && !failed) {
		if (d->faulted)
			device_event(bus, d, 1, NULL);
		d->faulted = 0;
		d->backoff_ms = d->poll_ms;
		d->next_poll = now + d->poll_ms;
		return;
	}
	if (!failed) {
		d->next_poll = now + d->poll_ms;
		return;
	}
	if (!d->faulted) {
		d->faulted = 1;
		log_warn("modbus %s unit %d: %s", bus->cfg->id, d->unit, why);
		device_event(bus, d, 0, why);
	}
	/* Back off, so that a dead device does not eat the bus time of the
	 * live ones; counted from the end of the failed poll, which took the
	 * timeouts, not from its start. */
	d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : d->poll_ms;
	if (d->backoff_ms > BACKOFF_MAX_MS)
		d->backoff_ms = BACKOFF_MAX_MS;
	d->next_poll = loop_mono_ms() + d->backoff_ms;
}

static int do_write(struct bus *bus, const struct write_req *w)
{
	struct bus_event e = {
	    .type = BUS_WRITE, .output = w->output, .bus = bus->index, .unit = w->unit};
	uint8_t back = 0;
	int ok = 0;
	modbus_set_slave(bus->ctx, w->unit);
	/* Written, then read back: a relay that did not switch is a siren
	 * that does not sound. */
	for (int a = 0; a < 3 && !ok; a++) {
		if (ensure_connected(bus) < 0)
			continue;
		if (modbus_write_bit(bus->ctx, w->coil, mbp_coil_value(w->on)) < 0 ||
		    modbus_read_bits(bus->ctx, w->coil, 1, &back) < 0) {
			if (bus->cfg->type == BUS_TCP && errno != ETIMEDOUT)
				drop_connection(bus);
			continue;
		}
		ok = (back != 0) == mbp_coil_value(w->on);
	}
	e.ok = ok;
	snprintf(e.msg, sizeof(e.msg), "siren output failed: coil %d of unit %d on bus %s", w->coil,
	         w->unit, bus->cfg->id);
	emit(bus, &e);
	return ok ? 0 : -1;
}

/* A newer write for an output makes an older failed one moot. */
static void retry_forget(struct bus *bus, int output)
{
	for (int i = 0; i < bus->nretry; i++)
		if (bus->retry[i].output == output)
			bus->retry[i--] = bus->retry[--bus->nretry];
}

static void retry_keep(struct bus *bus, const struct write_req *w, int64_t now)
{
	retry_forget(bus, w->output);
	if (bus->nretry == MB_RETRY_MAX)
		return; /* more outputs than a bus can carry; the fault stays raised */
	bus->retry[bus->nretry++] = *w;
	if (bus->nretry == 1) {
		bus->retry_delay_ms = 1000;
		bus->retry_at = now + bus->retry_delay_ms;
	}
}

/* The failed writes again, backing off to BACKOFF_MAX_MS: the siren must
 * come on as soon as the relay answers again, without flooding a bus that
 * is down. */
static void retry_writes(struct bus *bus, int64_t now)
{
	struct write_req again[MB_RETRY_MAX];
	int n = bus->nretry;
	if (!n || now < bus->retry_at)
		return;
	memcpy(again, bus->retry, sizeof(again[0]) * (size_t)n);
	bus->nretry = 0;
	for (int i = 0; i < n; i++)
		if (do_write(bus, &again[i]) < 0 && bus->nretry < MB_RETRY_MAX)
			bus->retry[bus->nretry++] = again[i];
	bus->retry_delay_ms *= 2;
	if (bus->retry_delay_ms > BACKOFF_MAX_MS)
		bus->retry_delay_ms = BACKOFF_MAX_MS;
	bus->retry_at = loop_mono_ms() + bus->retry_delay_ms;
}

static void tool_answer(struct bus *bus, uint64_t token, cJSON *o)
{
	struct bus_event e = {.type = BUS_TOOL, .token = token, .bus = bus->index};
	e.text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	emit(bus, &e);
}

static void do_tool(struct bus *bus, const struct tool_req *t)
{
	cJSON *o = cJSON_CreateObject();
	uint8_t bits[MAX_BITS];
	uint16_t regs[MAX_REGS];
	if (ensure_connected(bus) < 0) {
		cJSON_AddBoolToObject(o, "ok", 0);
		cJSON_AddStringToObject(o, "error", modbus_strerror(errno));
		tool_answer(bus, t->token, o);
		return;
	}
	if (t->scan) {
		cJSON *arr;
		cJSON_AddBoolToObject(o, "ok", 1);
		arr = cJSON_AddArrayToObject(o, "units");
		/* A short timeout: most units are absent. An exception reply is
		 * an answer: somebody is there. */
		modbus_set_response_timeout(bus->ctx, 0, 100000);
		for (int u = t->from; u <= t->to; u++) {
			int rc;
			modbus_set_slave(bus->ctx, u);
			rc = modbus_read_registers(bus->ctx, 0, 1, regs);
			if (rc >= 0 || is_exception(errno))
				cJSON_AddItemToArray(arr, cJSON_CreateNumber(u));
			else if (bus->cfg->type == BUS_RTU)
				modbus_flush(bus->ctx);
			else if (errno != ETIMEDOUT) {
				drop_connection(bus);
				ensure_connected(bus);
			}
		}
	} else {
		struct range r = {(enum mb_table)t->table, t->address, t->count, 0, 0};
		int rc;
		modbus_set_slave(bus->ctx, t->unit);
		modbus_set_response_timeout(bus->ctx, (uint32_t)(bus->cfg->timeout_ms / 1000),
		                            (uint32_t)(bus->cfg->timeout_ms % 1000) * 1000);
		rc = read_range(bus, &r, bits, regs);
		if (rc < 0) {
			cJSON_AddBoolToObject(o, "ok", 0);
			cJSON_AddStringToObject(
			    o, "error", errno == ETIMEDOUT ? "no answer" : modbus_strerror(errno));
		} else {
			cJSON *arr;
			cJSON_AddBoolToObject(o, "ok", 1);
			arr = cJSON_AddArrayToObject(o, "values");
			for (int i = 0; i < rc; i++)
				cJSON_AddItemToArray(
				    arr,
				    cJSON_CreateNumber(r.table == MB_DISCRETE || r.table == MB_COIL
				                           ? bits[i]
				                           : regs[i]));
		}
	}
	tool_answer(bus, t->token, o);
}

/* Coil writes first (a siren waits for nothing), then the failed ones
 * again, then the installer's tools. Frees the jobs. */
static void run_jobs(struct bus *bus, struct worker_job *jobs)
{
	struct worker_job *j;
	for (j = jobs; j; j = j->next) {
		struct bus_job *bj = (struct bus_job *)j;
		if (bj->is_tool)
			continue;
		retry_forget(bus, bj->w.output);
		if (do_write(bus, &bj->w) < 0)
			retry_keep(bus, &bj->w, loop_mono_ms());
	}
	retry_writes(bus, loop_mono_ms());
	while ((j = jobs)) {
		struct bus_job *bj = (struct bus_job *)j;
		jobs = j->next;
		if (bj->is_tool)
			do_tool(bus, &bj->t);
		free(bj);
	}
}

static void jobs_free(struct worker_job *j)
{
	while (j) {
		struct worker_job *next = j->next;
		free(j);
		j = next;
	}
}

/* The bus's thread: polls every device when it is due, and wakes early for
 * a coil write or a tool. Its deadline is the next poll or retry. */
static void bus_run(struct worker *w, void *arg)
{
	struct bus *bus = arg;
	int64_t next = loop_mono_ms(); /* the first poll at once */
	for (;;) {
		struct worker_job *jobs;
		int64_t now;
		if (worker_next(w, next, &jobs)) {
			jobs_free(jobs);
			break;
		}
		run_jobs(bus, jobs);
		now = loop_mono_ms();
		for (int i = 0; i < bus->ndev; i++) {
			if (bus->dev[i].npoints && bus->dev[i].next_poll <= now)
				poll_device(bus, &bus->dev[i], now);
			/* A siren write waits for one request at most, not for a
			 * round of polls (which may hold a timeout). */
			if (worker_urgent(w))
				break;
		}
		next = INT64_MAX;
		for (int i = 0; i < bus->ndev; i++)
			if (bus->dev[i].npoints && bus->dev[i].next_poll < next)
				next = bus->dev[i].next_poll;
		if (bus->nretry && bus->retry_at < next)
			next = bus->retry_at;
	}
	drop_connection(bus);
}

/* ---- set-up -------------------------------------------------------------- */

static struct device *device_of(struct bus *bus, int unit)
{
	for (int i = 0; i < bus->ndev; i++)
		if (bus->dev[i].unit == unit)
			return &bus->dev[i];
	struct device *n = realloc(bus->dev, sizeof(*n) * (size_t)(bus->ndev + 1));
	if (!n)
		return NULL;
	bus->dev = n;
	memset(&bus->dev[bus->ndev], 0, sizeof(bus->dev[0]));
	bus->dev[bus->ndev].unit = unit;
	bus->dev[bus->ndev].poll_ms = bus->cfg->poll_ms;
	bus->dev[bus->ndev].timeout_ms = bus->cfg->timeout_ms;
	bus->dev[bus->ndev].retries = bus->cfg->retries;
	return &bus->dev[bus->ndev++];
}

static int cmp_point(const void *x, const void *y)
{
	const struct mb_point *a = x, *b = y;
	if (a->m.table != b->m.table)
		return (int)a->m.table - (int)b->m.table;
	return a->m.address - b->m.address;
}

/* Group a device's points into as few requests as the protocol allows. */
static int build_ranges(struct device *d)
{
	qsort(d->points, (size_t)d->npoints, sizeof(d->points[0]), cmp_point);
	for (int i = 0; i < d->npoints; i++) {
		const struct config_modbus *m = &d->points[i].m;
		int w = mbp_width(&d->points[i].fmt);
		int max = mbp_table_is_bits(m->table) ? MAX_BITS : MAX_REGS;
		int end = m->address + w;
		struct range *r = d->nranges ? &d->ranges[d->nranges - 1] : NULL;
		if (r && r->table == m->table && end - r->start <= max) {
			if (end > r->start + r->count)
				r->count = end - r->start;
			r->npoints++;
			continue;
		}
		r = realloc(d->ranges, sizeof(*r) * (size_t)(d->nranges + 1));
		if (!r)
			return -1;
		d->ranges = r;
		d->ranges[d->nranges++] = (struct range){m->table, m->address, w, i, 1};
	}
	return 0;
}

struct buses *buses_start(const struct config *c, char *err, size_t errlen)
{
	struct buses *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->cfg = c;
	if (!(b->done = worker_done_new(err, errlen)))
		goto fail;
	b->bus = calloc((size_t)(c->nbuses ? c->nbuses : 1), sizeof(*b->bus));
	if (!b->bus) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	b->nbus = c->nbuses;
	for (int i = 0; i < c->nbuses; i++) {
		struct bus *bus = &b->bus[i];
		const struct config_bus *cb = &c->buses[i];
		bus->owner = b;
		bus->cfg = cb;
		bus->index = i;
		bus->ctx = cb->type == BUS_TCP ? modbus_new_tcp(cb->host, cb->port)
		                               : modbus_new_rtu(cb->device, cb->baud, cb->parity,
		                                                cb->data_bits, cb->stop_bits);
		if (!bus->ctx) {
			snprintf(err, errlen, "bus %s: %s", cb->id, modbus_strerror(errno));
			goto fail;
		}
		if (cb->type == BUS_RTU && cb->rs485 &&
		    modbus_rtu_set_serial_mode(bus->ctx, MODBUS_RTU_RS485) < 0)
			log_warn("modbus %s: this port has no RS-485 mode: %s", cb->id,
			         modbus_strerror(errno));
	}
	for (int s = 0; s < c->nsensors; s++) {
		const struct config_modbus *m = &c->sensors[s].modbus;
		struct device *d;
		struct mb_point *np;
		if (m->bus < 0)
			continue;
		d = device_of(&b->bus[m->bus], m->unit);
		if (!d)
			goto oom;
		np = realloc(d->points, sizeof(*np) * (size_t)(d->npoints + 1));
		if (!np)
			goto oom;
		d->points = np;
		d->points[d->npoints++] =
		    (struct mb_point){.sensor = s,
		                      .m = *m,
		                      .fmt = {m->table, m->bit, m->type, m->word_little, m->scale,
		                              m->offset, m->invert, m->point}};
		/* The fastest point of a device sets its pace. */
		if (m->poll_ms < d->poll_ms)
			d->poll_ms = m->poll_ms;
		d->timeout_ms = m->timeout_ms;
		d->retries = m->retries;
	}
	for (int i = 0; i < b->nbus; i++)
		for (int k = 0; k < b->bus[i].ndev; k++)
			if (build_ranges(&b->bus[i].dev[k]) < 0)
				goto oom;
	/* Every bus wakes at once for a write or a tool (batch 0). */
	for (int i = 0; i < b->nbus; i++)
		if (!(b->bus[i].w = worker_new(b->done, 0, 0)))
			goto oom;
	for (int i = 0; i < b->nbus; i++) {
		if (worker_start(b->bus[i].w, bus_run, &b->bus[i]) < 0) {
			snprintf(err, errlen, "cannot start the worker of bus %s", c->buses[i].id);
			goto fail;
		}
	}
	return b;
oom:
	snprintf(err, errlen, "out of memory");
fail:
	buses_stop(b);
	return NULL;
}

void buses_stop(struct buses *b)
{
	if (!b)
		return;
	/* All threads first: none of them may be using what is freed next. */
	for (int i = 0; b->bus && i < b->cfg->nbuses; i++) {
		jobs_free(worker_stop(b->bus[i].w));
		b->bus[i].w = NULL;
	}
	for (int i = 0; b->bus && i < b->cfg->nbuses; i++) {
		struct bus *bus = &b->bus[i];
		if (bus->ctx)
			modbus_free(bus->ctx);
		for (int k = 0; k < bus->ndev; k++) {
			free(bus->dev[k].points);
			free(bus->dev[k].ranges);
		}
		free(bus->dev);
	}
	free(b->bus);
	while (b->inbox) {
		struct worker_job *j = b->inbox;
		b->inbox = j->next;
		msg_free(j);
	}
	worker_done_free(b->done, msg_free);
	free(b);
}

int buses_write(struct buses *b, int output, int on)
{
	const struct config_modbus *m;
	struct bus_job *j;
	struct bus *bus;
	if (!b || output < 0 || output >= b->cfg->noutputs)
		return -1;
	m = &b->cfg->outputs[output].modbus;
	if (m->bus < 0 || m->bus >= b->nbus)
		return -1;
	bus = &b->bus[m->bus];
	if (!(j = calloc(1, sizeof(*j))))
		return -1;
	j->w = (struct write_req){output, m->unit, m->address, on};
	worker_post(bus->w, &j->job, 1);
	return 0;
}

static int queue_tool(struct buses *b, const char *bus_id, const struct tool_req *t, char *why,
                      size_t whylen)
{
	struct bus *bus = NULL;
	struct bus_job *j;
	if (!b) {
		snprintf(why, whylen, "the config has no Modbus bus");
		return -1;
	}
	for (int i = 0; i < b->nbus; i++)
		if (strcmp(b->bus[i].cfg->id, bus_id) == 0)
			bus = &b->bus[i];
	if (!bus) {
		snprintf(why, whylen, "no bus \"%s\" in the config", bus_id);
		return -1;
	}
	if (!(j = calloc(1, sizeof(*j)))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	j->is_tool = 1;
	j->t = *t;
	worker_post(bus->w, &j->job, 0);
	return 0;
}

int buses_scan(struct buses *b, const char *bus, int from, int to, uint64_t token, char *why,
               size_t whylen)
{
	struct tool_req t = {.scan = 1, .from = from, .to = to, .token = token};
	if (from < 0 || to > 255 || from > to) {
		snprintf(why, whylen, "units are 0 to 255, first to last");
		return -1;
	}
	return queue_tool(b, bus, &t, why, whylen);
}

int buses_read(struct buses *b, const char *bus, int unit, int table, int address, int count,
               uint64_t token, char *why, size_t whylen)
{
	struct tool_req t = {
	    .unit = unit, .table = table, .address = address, .count = count, .token = token};
	int max = mbp_table_is_bits((enum mb_table)table) ? MAX_BITS : MAX_REGS;
	if (unit < 0 || unit > 255 || table < 0 || table > MB_HOLDING_REG || address < 0 ||
	    address > 65535 || count < 1 || count > max || address + count > 65536) {
		snprintf(why, whylen, "unit 0-255, address 0-65535, count 1-%d", max);
		return -1;
	}
	return queue_tool(b, bus, &t, why, whylen);
}

cJSON *buses_status(struct buses *b)
{
	cJSON *arr = cJSON_CreateArray();
	if (!b)
		return arr;
	/* Counters are written by the workers; a torn read of one is a number
	 * off by one on a status page, never a wrong decision. */
	for (int i = 0; i < b->nbus; i++)
		for (int k = 0; k < b->bus[i].ndev; k++) {
			const struct device *d = &b->bus[i].dev[k];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "bus", b->bus[i].cfg->id);
			cJSON_AddNumberToObject(o, "unit", d->unit);
			cJSON_AddStringToObject(o, "state", d->faulted ? "fault" : "ok");
			cJSON_AddNumberToObject(o, "ok", (double)d->ok);
			cJSON_AddNumberToObject(o, "errors", (double)d->errors);
			cJSON_AddNumberToObject(o, "timeouts", (double)d->timeouts);
			cJSON_AddNumberToObject(o, "exceptions", (double)d->exceptions);
			cJSON_AddItemToArray(arr, o);
		}
	return arr;
}
