/*
 * z2m_siren.h: how zigbee2mqtt outputs are driven: the command forms of the
 * sirens sold here (the "warning" composite, Tuya TS0601 "alarm" forms...)
 * and the plain {"state"} of relays and valves.
 *
 * Part of the zigbee2mqtt family (zigbee2mqtt.c calls these for outputs);
 * kept apart because the forms are a table of their own.
 */
#ifndef SH_Z2M_SIREN_H
#define SH_Z2M_SIREN_H

#include "family.h"

/* The siren forms this version knows ("warning" first: the default),
 * NULL-terminated. */
extern const char *const z2m_siren_form_names[];

/* Parse the output's keys of its "mqtt" object (e.g. "siren") into b->opts;
 * every problem is reported through cfg. Returns 0 or -1. */
int z2m_siren_configure(struct family_binding *b, const struct cJSON *mqtt,
                        const struct cfg_report *cfg);
/* Free b->opts as set by z2m_siren_configure() (it points into a static
 * table: nothing is freed). */
void z2m_siren_free(struct family_binding *b);
/* The payload for cmd on the output bound by b, published on its topic.
 * Returns the length, or -1 when it does not fit. */
int z2m_siren_encode(const struct family_binding *b, const struct family_output_cmd *cmd, char *buf,
                     size_t size);

/* The form a device's exposes (definition.exposes of zigbee2mqtt's
 * bridge/devices) accept, as a name of z2m_siren_form_names, or NULL when
 * they show none of this version's forms. */
const char *z2m_siren_form_of(const struct cJSON *exposes);
/* What form name looks like in exposes, in words ("alarm ON/OFF with
 * duration in seconds"); NULL for an unknown name. Static strings. */
const char *z2m_siren_form_looks(const char *name);

#endif
