/*
 * modbus.c: bus worker threads over libmodbus.
 */
#include "modbus.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <modbus/modbus.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define BACKOFF_MAX_MS 30000
#define MB_RETRY_MAX 32    /* failed coil writes kept per bus for retry */
#define KEEPALIVE_MS 10000 /* unchanged values are still reported: supervision */
#define MAX_BITS 2000
#define MAX_REGS 125

struct mb_point {
	int sensor;
	struct config_modbus m;
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

struct bus {
	struct buses *owner;
	const struct config_bus *cfg;
	int index;
	modbus_t *ctx;
	int connected;
	pthread_t thread;
	struct device *dev;
	int ndev;
	struct write_req *writes;
	int nwrites, capwrites;
	struct tool_req *tools;
	int ntools, captools;
	/* Worker-only: coil writes that failed, tried again with backoff until
	 * they succeed or a newer write for the same output replaces them. */
	struct write_req retry[MB_RETRY_MAX];
	int nretry;
	int64_t retry_at, retry_delay_ms;
};

struct buses {
	struct bus *bus;
	int nbus;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	struct mb_event *ev;
	int nev, capev, headev;
	int efd;
	const struct config *cfg;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- to the loop --------------------------------------------------------- */

static void push(struct buses *b, const struct mb_event *e)
{
	uint64_t one = 1;
	pthread_mutex_lock(&b->mu);
	if (b->nev == b->capev) {
		int nc = b->capev ? b->capev * 2 : 64;
		struct mb_event *n = malloc(sizeof(*n) * (size_t)nc);
		if (!n) {
			pthread_mutex_unlock(&b->mu);
			return;
		}
		for (int i = 0; i < b->nev; i++)
			n[i] = b->ev[(b->headev + i) % b->capev];
		free(b->ev);
		b->ev = n;
		b->capev = nc;
		b->headev = 0;
	}
	b->ev[(b->headev + b->nev) % b->capev] = *e;
	b->nev++;
	pthread_mutex_unlock(&b->mu);
	if (write(b->efd, &one, sizeof(one)) < 0)
		one = 0; /* the counter is full: the loop has work already */
}

int buses_take(struct buses *b, struct mb_event *ev)
{
	int got = 0;
	uint64_t n;
	if (!b)
		return 0;
	pthread_mutex_lock(&b->mu);
	if (b->nev) {
		*ev = b->ev[b->headev];
		b->headev = (b->headev + 1) % b->capev;
		b->nev--;
		got = 1;
	}
	pthread_mutex_unlock(&b->mu);
	if (!got && read(b->efd, &n, sizeof(n)) < 0)
		n = 0;
	return got;
}

int buses_fd(const struct buses *b)
{
	return b ? b->efd : -1;
}

/* ---- decoding ----------------------------------------------------------- */

static uint32_t word32(const uint16_t *r, int little)
{
	return little ? ((uint32_t)r[1] << 16) | r[0] : ((uint32_t)r[0] << 16) | r[1];
}

/* The value of one point from a range's raw data. Returns 0, or -1 when the
 * value is not usable (a NaN float). */
static int decode(const struct mb_point *p, const uint8_t *bits, const uint16_t *regs, int off,
                  double *out)
{
	const struct config_modbus *m = &p->m;
	double v;
	if (m->table == MB_DISCRETE || m->table == MB_COIL) {
		v = bits[off] != 0;
	} else if (m->bit >= 0) {
		v = (regs[off] >> m->bit) & 1;
	} else {
		switch (m->type) {
		case MBT_U16:
			v = regs[off];
			break;
		case MBT_S16:
			v = (int16_t)regs[off];
			break;
		case MBT_U32:
			v = word32(regs + off, m->word_little);
			break;
		case MBT_S32:
			v = (int32_t)word32(regs + off, m->word_little);
			break;
		case MBT_F32:
			/* ABCD is the Modbus norm; CDAB (low word first) is the
			 * "little" word order of many meters. */
			v = m->word_little ? modbus_get_float_cdab(regs + off)
			                   : modbus_get_float_abcd(regs + off);
			break;
		default:
			v = regs[off] != 0;
		}
	}
	if (!isfinite(v))
		return -1;
	if (m->type == MBT_BOOL) {
		if (m->invert)
			v = !v;
	} else {
		v = v * m->scale + m->offset;
	}
	*out = v;
	return 0;
}

static int width(const struct config_modbus *m)
{
	if (m->table == MB_DISCRETE || m->table == MB_COIL || m->bit >= 0)
		return 1;
	return m->type == MBT_U32 || m->type == MBT_S32 || m->type == MBT_F32 ? 2 : 1;
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
	struct mb_event e = {.type = MBE_DEVICE, .bus = bus->index, .unit = d->unit, .ok = ok};
	snprintf(e.msg, sizeof(e.msg), "Lỗi Modbus (bus fault): bus %s, unit %d%s%s", bus->cfg->id,
	         d->unit, why ? ": " : "", why ? why : "");
	push(bus->owner, &e);
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
				if (decode(p, bits, regs, p->m.address - r->start, &v) < 0)
					continue;
				/* Changes at once; the same value now and then, as a
				 * sign of life for supervision. */
				if (p->has_last && v == p->last &&
				    now - p->last_sent < KEEPALIVE_MS)
					continue;
				p->has_last = 1;
				p->last = v;
				p->last_sent = now;
				struct mb_event ev = {
				    .type = MBE_READING, .sensor = p->sensor, .value = v};
				ev.point = p->m.type == MBT_BOOL
				               ? sh_kind_primary_point(
				                     bus->owner->cfg->sensors[p->sensor].kind)
				               : p->m.point;
				push(bus->owner, &ev);
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
	d->next_poll = mono_ms() + d->backoff_ms;
}

static int do_write(struct bus *bus, const struct write_req *w)
{
	struct mb_event e = {
	    .type = MBE_WRITE, .output = w->output, .bus = bus->index, .unit = w->unit};
	uint8_t back = 0;
	int ok = 0;
	modbus_set_slave(bus->ctx, w->unit);
	/* Written, then read back: a relay that did not switch is a siren
	 * that does not sound. */
	for (int a = 0; a < 3 && !ok; a++) {
		if (ensure_connected(bus) < 0)
			continue;
		if (modbus_write_bit(bus->ctx, w->coil, w->on) < 0 ||
		    modbus_read_bits(bus->ctx, w->coil, 1, &back) < 0) {
			if (bus->cfg->type == BUS_TCP && errno != ETIMEDOUT)
				drop_connection(bus);
			continue;
		}
		ok = (back != 0) == (w->on != 0);
	}
	e.ok = ok;
	snprintf(e.msg, sizeof(e.msg), "siren output failed: coil %d of unit %d on bus %s", w->coil,
	         w->unit, bus->cfg->id);
	push(bus->owner, &e);
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
	bus->retry_at = mono_ms() + bus->retry_delay_ms;
}

static void tool_answer(struct bus *bus, uint64_t token, cJSON *o)
{
	struct mb_event e = {.type = MBE_TOOL, .token = token, .bus = bus->index};
	e.text = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	push(bus->owner, &e);
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

static int writes_pending(struct bus *bus)
{
	int n;
	pthread_mutex_lock(&bus->owner->mu);
	n = bus->nwrites;
	pthread_mutex_unlock(&bus->owner->mu);
	return n > 0;
}

static void *worker(void *arg)
{
	struct bus *bus = arg;
	struct buses *b = bus->owner;
	pthread_mutex_lock(&b->mu);
	while (!b->stop) {
		int64_t now, next = INT64_MAX;
		struct write_req *w = NULL;
		int nw = 0;
		struct tool_req *t = NULL;
		int nt = 0;
		if (bus->nwrites) {
			w = bus->writes;
			nw = bus->nwrites;
			bus->writes = NULL;
			bus->nwrites = bus->capwrites = 0;
		}
		if (bus->ntools) {
			t = bus->tools;
			nt = bus->ntools;
			bus->tools = NULL;
			bus->ntools = bus->captools = 0;
		}
		pthread_mutex_unlock(&b->mu);
		for (int i = 0; i < nw; i++) {
			retry_forget(bus, w[i].output);
			if (do_write(bus, &w[i]) < 0)
				retry_keep(bus, &w[i], mono_ms());
		}
		free(w);
		retry_writes(bus, mono_ms());
		for (int i = 0; i < nt; i++)
			do_tool(bus, &t[i]);
		free(t);
		now = mono_ms();
		for (int i = 0; i < bus->ndev; i++) {
			if (bus->dev[i].npoints && bus->dev[i].next_poll <= now)
				poll_device(bus, &bus->dev[i], now);
			/* A siren write waits for one request at most, not for a
			 * round of polls (which may hold a timeout). */
			if (writes_pending(bus))
				break;
		}
		now = mono_ms();
		for (int i = 0; i < bus->ndev; i++)
			if (bus->dev[i].npoints && bus->dev[i].next_poll < next)
				next = bus->dev[i].next_poll;
		if (bus->nretry && bus->retry_at < next)
			next = bus->retry_at;
		pthread_mutex_lock(&b->mu);
		if (b->stop || bus->nwrites || bus->ntools)
			continue;
		if (next == INT64_MAX) {
			pthread_cond_wait(&b->cv, &b->mu);
		} else if (next > now) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += (next - now) / 1000;
			ts.tv_nsec += ((next - now) % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		}
	}
	pthread_mutex_unlock(&b->mu);
	drop_connection(bus);
	return NULL;
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
		int max = m->table == MB_DISCRETE || m->table == MB_COIL ? MAX_BITS : MAX_REGS;
		int end = m->address + width(m);
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
		d->ranges[d->nranges++] = (struct range){m->table, m->address, width(m), i, 1};
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
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->bus = calloc((size_t)(c->nbuses ? c->nbuses : 1), sizeof(*b->bus));
	if (b->efd < 0 || !b->bus) {
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
		d->points[d->npoints++] = (struct mb_point){.sensor = s, .m = *m};
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
	for (int i = 0; i < b->nbus; i++) {
		if (pthread_create(&b->bus[i].thread, NULL, worker, &b->bus[i]) != 0) {
			snprintf(err, errlen, "cannot start the worker of bus %s", c->buses[i].id);
			b->nbus = i; /* only those are running */
			goto fail;
		}
	}
	return b;
oom:
	snprintf(err, errlen, "out of memory");
	b->nbus = 0; /* no thread started yet */
fail:
	buses_stop(b);
	return NULL;
}

void buses_stop(struct buses *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	for (int i = 0; i < b->nbus; i++)
		pthread_join(b->bus[i].thread, NULL);
	for (int i = 0; b->bus && i < b->cfg->nbuses; i++) {
		struct bus *bus = &b->bus[i];
		if (bus->ctx)
			modbus_free(bus->ctx);
		for (int k = 0; k < bus->ndev; k++) {
			free(bus->dev[k].points);
			free(bus->dev[k].ranges);
		}
		free(bus->dev);
		free(bus->writes);
		free(bus->tools);
	}
	free(b->bus);
	for (int i = 0; i < b->nev; i++)
		free(b->ev[(b->headev + i) % b->capev].text);
	free(b->ev);
	if (b->efd >= 0)
		close(b->efd);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}

int buses_write(struct buses *b, int output, int on)
{
	const struct config_modbus *m;
	struct bus *bus;
	if (!b || output < 0 || output >= b->cfg->noutputs)
		return -1;
	m = &b->cfg->outputs[output].modbus;
	if (m->bus < 0 || m->bus >= b->nbus)
		return -1;
	bus = &b->bus[m->bus];
	pthread_mutex_lock(&b->mu);
	if (bus->nwrites == bus->capwrites) {
		int nc = bus->capwrites ? bus->capwrites * 2 : 8;
		struct write_req *n = realloc(bus->writes, sizeof(*n) * (size_t)nc);
		if (!n) {
			pthread_mutex_unlock(&b->mu);
			return -1;
		}
		bus->writes = n;
		bus->capwrites = nc;
	}
	bus->writes[bus->nwrites++] = (struct write_req){output, m->unit, m->address, on};
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

static int queue_tool(struct buses *b, const char *bus_id, const struct tool_req *t, char *why,
                      size_t whylen)
{
	struct bus *bus = NULL;
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
	pthread_mutex_lock(&b->mu);
	if (bus->ntools == bus->captools) {
		int nc = bus->captools ? bus->captools * 2 : 4;
		struct tool_req *n = realloc(bus->tools, sizeof(*n) * (size_t)nc);
		if (!n) {
			pthread_mutex_unlock(&b->mu);
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		bus->tools = n;
		bus->captools = nc;
	}
	bus->tools[bus->ntools++] = *t;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
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
	int max = table == MB_DISCRETE || table == MB_COIL ? MAX_BITS : MAX_REGS;
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
	pthread_mutex_lock(&b->mu);
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
	pthread_mutex_unlock(&b->mu);
	return arr;
}
