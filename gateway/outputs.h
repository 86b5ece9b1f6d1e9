/*
 * outputs.h: sirens, strobes and relays reached over the local broker.
 *
 * The panel says what the sirens should be doing; this module makes the
 * devices do it: it publishes only on a change, re-sends the wanted state
 * after the broker connection comes back, and refreshes a sounding siren
 * before the device's own duration runs out (z2m sirens stop by themselves
 * after "duration" seconds).
 */
#ifndef SH_OUTPUTS_H
#define SH_OUTPUTS_H

#include "../sensors/point.h"

struct config;
struct loop;
struct mqttc;
struct outputs;

struct outputs *outputs_new(struct loop *l, const struct config *c, struct mqttc *local);
void outputs_free(struct outputs *o);
void outputs_rebind(struct outputs *o, const struct config *c);

/* All sirens and strobes on with pattern (fire, burglar, emergency; SIREN_OFF
 * means fire), or off. */
void outputs_sirens(struct outputs *o, int on, enum sh_siren pattern);
int outputs_sirens_on(const struct outputs *o);
/* The pattern sounding, SIREN_OFF when the sirens are off. */
enum sh_siren outputs_siren_pattern(const struct outputs *o);

/* Drive one output (relay, valve) by config index. */
void outputs_set(struct outputs *o, int output, int on);

/* Outputs on a Modbus coil are written by this callback (the bus worker's
 * queue); MQTT ones are published here. */
void outputs_set_coil_writer(struct outputs *o, int (*fn)(void *ctx, int output, int on),
                             void *ctx);

/* Wanted state of one output (sirens: the siren state). */
int outputs_state(const struct outputs *o, int output);

/* The installer's test of one output (config index): on now (a siren with
 * the pattern fire, for seconds), back to its wanted state after seconds
 * (a siren a real alarm turned on meanwhile keeps sounding). A test still
 * running is ended first. Returns 0, or -1 for a bad index. */
int outputs_test(struct outputs *o, int output, int seconds);
int outputs_testing(const struct outputs *o);

/* Send every output's wanted state again (after a reconnect). */
void outputs_resync(struct outputs *o);

#endif
