/*
 * outputs.c: siren and relay commands through the payload families.
 */
#include "outputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sensors/family.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "mqttc.h"

struct outputs {
	struct loop *loop;
	const struct config *cfg;
	struct mqttc *mqtt;
	int sirens_on;
	int commanded; /* a siren command was ever sent */
	enum sh_siren pattern;
	int *relay_on; /* wanted state per output (non-siren) */
	int nrelay;
	int refresh_timer;
	int (*coil)(void *ctx, int output, int on);
	void *coil_ctx;
	/* The installer's test of one output (outputs_test): its id (the index
	 * may move at a reload) and the timer that ends it. */
	char test_id[64];
	int test_timer;
};

void outputs_set_coil_writer(struct outputs *o, int (*fn)(void *ctx, int output, int on), void *ctx)
{
	o->coil = fn;
	o->coil_ctx = ctx;
}

static int is_siren(const struct config_output *out)
{
	return out->kind == OUTPUT_SIREN || out->kind == OUTPUT_STROBE;
}

/* Command output i on or off; a siren sounds for duration_s per command
 * (0: the output's own). */
static void send_cmd(struct outputs *o, int i, int on, int duration_s)
{
	const struct config_output *out = &o->cfg->outputs[i];
	const struct family *fam = family_find(out->mqtt.format);
	struct family_output_cmd cmd = {
	    .siren = is_siren(out),
	    .on = on,
	    .pattern = o->pattern,
	    .duration_s = duration_s ? duration_s : out->duration_s,
	};
	char buf[256];
	int len;
	if (out->modbus.bus >= 0) {
		if (!o->coil || o->coil(o->coil_ctx, i, on) < 0)
			log_err("outputs: %s: cannot queue the coil write", out->id);
		else
			log_info("outputs: %s %s (Modbus coil)", out->id, on ? "on" : "off");
		return;
	}
	if (!fam || !out->mqtt.topic)
		return;
	len = fam->encode_output(&out->mqtt, &cmd, buf, sizeof(buf));
	if (len < 0) {
		log_err("outputs: %s: cannot encode command", out->id);
		return;
	}
	if (mqttc_publish(o->mqtt, out->mqtt.topic, buf, (size_t)len, 1, 0, NULL) < 0)
		log_warn("outputs: %s: broker not reachable; command will be sent on reconnect",
		         out->id);
	else
		log_info("outputs: %s %s%s%s", out->id, on ? "on" : "off",
		         on && cmd.siren ? " " : "",
		         on && cmd.siren ? sh_siren_name(o->pattern) : "");
}

static void send_one(struct outputs *o, int i, int on)
{
	send_cmd(o, i, on, 0);
}

static int refresh_interval_ms(const struct outputs *o)
{
	int min = 0;
	for (int i = 0; i < o->cfg->noutputs; i++) {
		const struct config_output *out = &o->cfg->outputs[i];
		if (is_siren(out) && out->duration_s > 0 && (!min || out->duration_s < min))
			min = out->duration_s;
	}
	if (!min)
		min = 300;
	/* Re-send well before the device times out, allowing for a slow
	 * Zigbee mesh. */
	return min * 1000 * 4 / 5;
}

static void refresh(void *arg)
{
	struct outputs *o = arg;
	o->refresh_timer = 0;
	if (!o->sirens_on)
		return;
	for (int i = 0; i < o->cfg->noutputs; i++)
		if (is_siren(&o->cfg->outputs[i]))
			send_one(o, i, 1);
	o->refresh_timer = loop_timer_add(o->loop, refresh_interval_ms(o), refresh, o);
}

struct outputs *outputs_new(struct loop *l, const struct config *c, struct mqttc *local)
{
	struct outputs *o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->loop = l;
	o->mqtt = local;
	o->pattern = SIREN_FIRE;
	outputs_rebind(o, c);
	return o;
}

void outputs_free(struct outputs *o)
{
	if (!o)
		return;
	loop_timer_cancel(o->loop, o->refresh_timer);
	loop_timer_cancel(o->loop, o->test_timer);
	free(o->relay_on);
	free(o);
}

void outputs_rebind(struct outputs *o, const struct config *c)
{
	int *nr = calloc((size_t)(c->noutputs ? c->noutputs : 1), sizeof(int));
	if (nr && o->cfg)
		for (int i = 0; i < c->noutputs; i++) {
			int old = config_output_index(o->cfg, c->outputs[i].id);
			if (old >= 0 && old < o->nrelay)
				nr[i] = o->relay_on[old];
		}
	if (nr) {
		free(o->relay_on);
		o->relay_on = nr;
		o->nrelay = c->noutputs;
	}
	o->cfg = c;
}

void outputs_sirens(struct outputs *o, int on, enum sh_siren pattern)
{
	if (pattern == SIREN_OFF)
		pattern = SIREN_FIRE;
	if (on == o->sirens_on && (!on || pattern == o->pattern))
		return;
	o->sirens_on = on;
	o->commanded = 1;
	if (on)
		o->pattern = pattern;
	for (int i = 0; i < o->cfg->noutputs; i++)
		if (is_siren(&o->cfg->outputs[i]))
			send_one(o, i, on);
	loop_timer_cancel(o->loop, o->refresh_timer);
	o->refresh_timer = on ? loop_timer_add(o->loop, refresh_interval_ms(o), refresh, o) : 0;
}

int outputs_sirens_on(const struct outputs *o)
{
	return o->sirens_on;
}

enum sh_siren outputs_siren_pattern(const struct outputs *o)
{
	return o->sirens_on ? o->pattern : SIREN_OFF;
}

void outputs_set(struct outputs *o, int output, int on)
{
	if (output < 0 || output >= o->cfg->noutputs || output >= o->nrelay)
		return;
	if (o->relay_on[output] == on)
		return;
	o->relay_on[output] = on;
	send_one(o, output, on);
}

int outputs_state(const struct outputs *o, int output)
{
	if (output < 0 || output >= o->cfg->noutputs)
		return 0;
	if (is_siren(&o->cfg->outputs[output]))
		return o->sirens_on;
	return output < o->nrelay ? o->relay_on[output] : 0;
}

void outputs_resync(struct outputs *o)
{
	for (int i = 0; i < o->cfg->noutputs; i++) {
		if (is_siren(&o->cfg->outputs[i])) {
			/* Silence is re-sent too (once we ever commanded the
			 * sirens): one may have been switched on while the
			 * broker was away. */
			if (o->sirens_on || o->commanded)
				send_one(o, i, o->sirens_on);
		} else if (i < o->nrelay && o->relay_on[i]) {
			send_one(o, i, 1);
		}
	}
}

/* The end of a test: the output goes back to what the house wants of it.
 * A siren that a real alarm turned on meanwhile keeps sounding (the alarm
 * owns it now); a relay gets its wanted state again. */
static void test_end(void *arg)
{
	struct outputs *o = arg;
	int i = config_output_index(o->cfg, o->test_id);
	o->test_timer = 0;
	o->test_id[0] = 0;
	if (i < 0)
		return;
	if (is_siren(&o->cfg->outputs[i])) {
		if (!o->sirens_on)
			send_one(o, i, 0);
	} else {
		send_one(o, i, i < o->nrelay ? o->relay_on[i] : 0);
	}
	log_info("outputs: test of %s ended", o->cfg->outputs[i].id);
}

int outputs_test(struct outputs *o, int output, int seconds)
{
	const struct config_output *out;
	if (output < 0 || output >= o->cfg->noutputs || seconds < 1)
		return -1;
	if (o->test_timer) {
		loop_timer_cancel(o->loop, o->test_timer);
		test_end(o);
	}
	out = &o->cfg->outputs[output];
	snprintf(o->test_id, sizeof(o->test_id), "%s", out->id);
	/* The siren itself stops after seconds too, should the stop be lost. */
	send_cmd(o, output, 1, is_siren(out) ? seconds : 0);
	o->test_timer = loop_timer_add(o->loop, seconds * 1000, test_end, o);
	return 0;
}

int outputs_testing(const struct outputs *o)
{
	return o->test_timer != 0;
}
