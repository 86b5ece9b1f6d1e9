/*
 * modbus.h: Modbus RTU and TCP buses, one worker thread each.
 *
 * libmodbus is blocking, so every bus gets a thread that owns its context
 * and does all the I/O: it polls the points of each device (contiguous
 * points of one table of one unit in one request), decodes them (bits,
 * 16/32-bit signed, unsigned and float values in either word order, scale,
 * offset, active-low), writes coils for outputs and reads them back. It
 * talks to the event loop only through a queue and an eventfd, so a slow or
 * dead bus never delays the loop. A device that stops answering is reported
 * once (then retried with exponential backoff capped at 30 s) and reported
 * again when it answers.
 */
#ifndef SH_MODBUS_H
#define SH_MODBUS_H

#include <stddef.h>

#include "../sensors/point.h"

struct config;
struct buses;
struct cJSON;

enum mb_event_type {
	MBE_READING, /* sensor, point, value */
	MBE_DEVICE,  /* bus, unit: ok 0 stopped answering, 1 answers again */
	MBE_WRITE,   /* output: ok 0 the coil write failed, 1 it succeeded */
};

struct mb_event {
	enum mb_event_type type;
	int sensor;
	enum sh_point point;
	double value;
	int bus, unit, output;
	int ok;
	char msg[160];
};

/* Start a worker for every bus with points or outputs. The config must
 * outlive the buses (stop them before freeing it). NULL on error (err). */
struct buses *buses_start(const struct config *c, char *err, size_t errlen);
/* Stop and join every worker. Accepts NULL. */
void buses_stop(struct buses *b);

/* Readable when events are waiting; take them with buses_take. */
int buses_fd(const struct buses *b);
int buses_take(struct buses *b, struct mb_event *ev);

/* Queue a coil write for a Modbus output (config index). */
int buses_write(struct buses *b, int output, int on);

/* [{"bus","unit","state","ok","errors","timeouts","exceptions"}]; caller
 * frees. */
struct cJSON *buses_status(struct buses *b);

#endif
