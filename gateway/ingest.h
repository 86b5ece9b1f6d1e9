/*
 * ingest.h: from an MQTT message to point values of one sensor.
 *
 * Maps each subscribed topic to its sensor and payload family, decodes, and
 * counts what cannot be used per reason, and the single fields dropped
 * from messages that were otherwise used. A bad payload or field is logged
 * with its topic and reason at most once a minute per topic, so a broken device
 * cannot flood the log (or the SD card).
 */
#ifndef SH_INGEST_H
#define SH_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "../sensors/family.h"

struct config;
struct ingest;

/* Build the topic table for c. NULL on allocation failure. */
struct ingest *ingest_new(const struct config *c);
void ingest_free(struct ingest *in);

/* The topics to subscribe to. */
int ingest_topic_count(const struct ingest *in);
const char *ingest_topic(const struct ingest *in, int i);

/* 1 when some sensor of in reads topic, else 0. */
int ingest_has_topic(const struct ingest *in, const char *topic);

/* Decode one message. On success returns 0 with *sensor and out[0..*n);
 * fields the decoder dropped (a bad value in an otherwise good message)
 * have been counted (ingest_bad_fields) and (rate-limited) logged with their
 * name. Otherwise returns -1; the reason has been counted and
 * (rate-limited) logged. out must hold FAMILY_MAX_VALUES. */
int ingest_message(struct ingest *in, const char *topic, const void *payload, size_t len,
                   int64_t mono_ms, int *sensor, struct sh_point_value *out, int *n);

/* Rejection counters, indexed by enum family_reject. */
const uint64_t *ingest_rejects(const struct ingest *in);
/* Carry counters over from an older table (after a reload). */
void ingest_take_counters(struct ingest *in, const struct ingest *old);
uint64_t ingest_accepted(const struct ingest *in);
/* Fields dropped alone from messages that were otherwise used. */
uint64_t ingest_bad_fields(const struct ingest *in);

#endif
