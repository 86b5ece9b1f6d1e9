/*
 * bus.h: Modbus RTU and TCP buses, one worker thread (worker.h) each.
 *
 * libmodbus is blocking, so every bus gets a thread that owns its context
 * and does all the I/O: it polls the points of each device (contiguous
 * points of one table of one unit in one request), decodes them (bits,
 * 16/32-bit signed, unsigned and float values in either word order, scale,
 * offset, active-low: sensors/modbus_point.h), writes coils for outputs and reads them back. It
 * talks to the event loop only through a queue and an eventfd, so a slow or
 * dead bus never delays the loop. A device that stops answering is reported
 * once (then retried with exponential backoff capped at 30 s) and reported
 * again when it answers.
 */
#ifndef SH_BUS_H
#define SH_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "../sensors/point.h"

struct config;
struct buses;
struct cJSON;

enum bus_event_type {
	BUS_READING, /* sensor, point, value */
	BUS_DEVICE,  /* bus, unit: ok 0 stopped answering, 1 answers again */
	BUS_WRITE,   /* output: ok 0 the coil write failed, 1 it succeeded */
	BUS_TOOL,    /* token: the JSON answer (text, owned by the event) */
};

struct bus_event {
	enum bus_event_type type;
	int sensor;
	enum sh_point point;
	double value;
	int bus, unit, output;
	int ok;
	char msg[160]; /* BUS_DEVICE: the reason only ("" none); BUS_WRITE: the text */
	uint64_t token;
	char *text; /* BUS_TOOL: free() it */
};

/* Start a worker for every bus with points or outputs. The config must
 * outlive the buses (stop them before freeing it). NULL on error (err). */
struct buses *buses_start(const struct config *c, char *err, size_t errlen);
/* Stop and join every worker. Accepts NULL. */
void buses_stop(struct buses *b);

/* Readable when events are waiting; take them with buses_take. */
int buses_fd(const struct buses *b);
int buses_take(struct buses *b, struct bus_event *ev);

/* Queue a coil write for a Modbus output (config index). */
int buses_write(struct buses *b, int output, int on);

/* Installer tools, run by the bus's own worker between polls so that they
 * never fight it for the serial line. The answer comes back as an BUS_TOOL
 * event carrying token: {"ok":true,"units":[...]} or {"ok":true,"values":
 * [...]} or {"ok":false,"error":"..."}. Returns 0, or -1 with why. */
int buses_scan(struct buses *b, const char *bus, int from, int to, uint64_t token, char *why,
               size_t whylen);
int buses_read(struct buses *b, const char *bus, int unit, int table, int address, int count,
               uint64_t token, char *why, size_t whylen);

/* [{"bus","unit","state","ok","errors","timeouts","exceptions"}]; caller
 * frees. */
struct cJSON *buses_status(struct buses *b);

#endif
