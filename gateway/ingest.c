/*
 * ingest.c: topic table (open addressing, FNV-1a) and decoding.
 */
#include "ingest.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

#define LOG_INTERVAL_MS 60000

struct route {
	char *topic;
	int sensor;
	int which;
	const struct family *fam;
	const struct family_binding *binding; /* the config's; lives as long as it */
	int64_t last_log;
};

struct ingest {
	struct route *routes;
	int nroutes;
	int *slots; /* hash slots: route index or -1 */
	size_t nslots;
	uint64_t rejects[REJECT__COUNT];
	uint64_t accepted;
	uint64_t bad_fields;
	int64_t unknown_last_log;
};

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static int find(const struct ingest *in, const char *topic)
{
	size_t i = hash(topic) & (in->nslots - 1);
	while (in->slots[i] >= 0) {
		if (strcmp(in->routes[in->slots[i]].topic, topic) == 0)
			return in->slots[i];
		i = (i + 1) & (in->nslots - 1);
	}
	return -1;
}

struct ingest *ingest_new(const struct config *c)
{
	struct ingest *in = calloc(1, sizeof(*in));
	int cap = c->nsensors * FAMILY_MAX_TOPICS;
	if (!in)
		return NULL;
	in->routes = calloc((size_t)(cap ? cap : 1), sizeof(*in->routes));
	in->nslots = 16;
	while (in->nslots < (size_t)cap * 2)
		in->nslots *= 2;
	in->slots = malloc(in->nslots * sizeof(int));
	if (!in->routes || !in->slots)
		goto fail;
	memset(in->slots, 0xff, in->nslots * sizeof(int));
	for (int s = 0; s < c->nsensors; s++) {
		const struct config_sensor *cs = &c->sensors[s];
		const struct family *fam = family_find(cs->mqtt.format);
		char topics[FAMILY_MAX_TOPICS][256];
		int nt;
		if (!cs->mqtt.topic || !fam)
			continue;
		nt = fam->topics(&cs->mqtt, topics, FAMILY_MAX_TOPICS);
		for (int t = 0; t < nt; t++) {
			size_t i;
			if (find(in, topics[t]) >= 0) {
				/* The config loader refuses shared topics;
				 * keep the first owner if one slips through. */
				log_warn("ingest: topic %s is used by more than one sensor",
				         topics[t]);
				continue;
			}
			struct route *r = &in->routes[in->nroutes];
			r->topic = strdup(topics[t]);
			if (!r->topic)
				goto fail;
			r->sensor = s;
			r->which = t;
			r->fam = fam;
			r->binding = &cs->mqtt;
			i = hash(r->topic) & (in->nslots - 1);
			while (in->slots[i] >= 0)
				i = (i + 1) & (in->nslots - 1);
			in->slots[i] = in->nroutes++;
		}
	}
	return in;
fail:
	ingest_free(in);
	return NULL;
}

void ingest_free(struct ingest *in)
{
	if (!in)
		return;
	for (int i = 0; i < in->nroutes; i++)
		free(in->routes[i].topic);
	free(in->routes);
	free(in->slots);
	free(in);
}

int ingest_topic_count(const struct ingest *in)
{
	return in->nroutes;
}

const char *ingest_topic(const struct ingest *in, int i)
{
	return i >= 0 && i < in->nroutes ? in->routes[i].topic : NULL;
}

int ingest_has_topic(const struct ingest *in, const char *topic)
{
	return in && topic && find(in, topic) >= 0;
}

/* One log line a minute per topic, whatever went wrong on it. */
static int may_log(struct route *rt, int64_t mono_ms)
{
	if (rt->last_log && mono_ms - rt->last_log < LOG_INTERVAL_MS)
		return 0;
	rt->last_log = mono_ms;
	return 1;
}

int ingest_message(struct ingest *in, const char *topic, const void *payload, size_t len,
                   int64_t mono_ms, int *sensor, struct sh_point_value *out, int *n)
{
	enum family_reject why = REJECT_NONE;
	struct family_drops drops = {0};
	int r = find(in, topic);
	struct route *rt;

	if (r < 0) {
		in->rejects[REJECT_UNKNOWN_TOPIC]++;
		if (mono_ms - in->unknown_last_log >= LOG_INTERVAL_MS || !in->unknown_last_log) {
			in->unknown_last_log = mono_ms;
			log_warn("ingest: %s: message on a topic no sensor uses; ignored", topic);
		}
		return -1;
	}
	rt = &in->routes[r];
	if (rt->fam->decode(rt->binding, rt->which, payload, len, out, n, &why, &drops) == 0) {
		*sensor = rt->sensor;
		in->accepted++;
		if (drops.count > 0) {
			in->bad_fields += (uint64_t)drops.count;
			if (may_log(rt, mono_ms))
				log_warn("ingest: %s: field %s: %s (%s); field dropped, the rest "
				         "used%s (logged at most once a minute per topic)",
				         topic, drops.field, drops.reason, drops.value,
				         drops.count > 1 ? ", with other bad fields" : "");
		}
		return 0;
	}
	if ((unsigned)why >= REJECT__COUNT || why == REJECT_NONE)
		why = REJECT_BAD_VALUE;
	in->rejects[why]++;
	if (may_log(rt, mono_ms)) {
		if (drops.count > 0)
			log_warn("ingest: %s: unusable %s payload (%zu bytes): %s: field %s: %s "
			         "(%s), and nothing else usable; ignored (logged at most once a "
			         "minute per topic)",
			         topic, rt->fam->name, len, family_reject_name(why), drops.field,
			         drops.reason, drops.value);
		else
			log_warn(
			    "ingest: %s: unusable %s payload (%zu bytes): %s; ignored (logged at "
			    "most once a minute per topic)",
			    topic, rt->fam->name, len, family_reject_name(why));
	}
	return -1;
}

const uint64_t *ingest_rejects(const struct ingest *in)
{
	return in->rejects;
}

uint64_t ingest_accepted(const struct ingest *in)
{
	return in->accepted;
}

uint64_t ingest_bad_fields(const struct ingest *in)
{
	return in->bad_fields;
}

void ingest_take_counters(struct ingest *in, const struct ingest *old)
{
	if (!old)
		return;
	memcpy(in->rejects, old->rejects, sizeof(in->rejects));
	in->accepted = old->accepted;
	in->bad_fields = old->bad_fields;
}
