/*
 * fuzz_tasmota.c: the tasmota decoder on each of its topics (SENSOR, STATE,
 * LWT, RESULT, and stat/POWER of a relay feedback sensor), for bindings with
 * and without options. Checks the decode contract, not just the absence of
 * crashes: at most one value per point, known points, finite values, a
 * reason on every refusal and a described field for every drop.
 */
#include <cjson/cJSON.h>
#include <math.h>

#include "fuzz.h"
#include "sensors/family.h"

/* kind, options as a config's "mqtt" object would give them */
static const struct {
	enum sh_kind kind;
	const char *mqtt;
} shapes[] = {
    {KIND_SMOKE, "{}"},
    {KIND_DOOR, "{\"input\":\"Switch2\",\"active\":\"OFF\"}"},
    {KIND_HEAT, "{\"temperature\":\"DS18B20-2\",\"full_topic\":\"tasmota/%topic%/%prefix%/\"}"},
    {KIND_PANIC, "{}"},
    {KIND_SIREN_FEEDBACK, "{\"relay\":2}"},
};
#define NSHAPES (sizeof(shapes) / sizeof(shapes[0]))

static struct family_binding bindings[NSHAPES];

static void no_report(void *ctx, int severity, const struct cJSON *node, const char *key,
                      const char *fmt, ...)
{
	(void)ctx;
	(void)severity;
	(void)node;
	(void)key;
	(void)fmt;
	FUZZ_CHECK(!"the fuzz bindings' options are valid");
}

static void bind_all(const struct family *f)
{
	const struct cfg_report cfg = {.ctx = NULL, .report = no_report};
	static int done;

	if (done)
		return;
	done = 1;
	for (size_t i = 0; i < NSHAPES; i++) {
		cJSON *m = cJSON_Parse(shapes[i].mqtt);
		bindings[i].topic = (char *)"t";
		bindings[i].format = (char *)"tasmota";
		bindings[i].kind = shapes[i].kind;
		FUZZ_CHECK(m && f->configure(&bindings[i], m, &cfg) == 0);
		cJSON_Delete(m);
	}
}

static void check(const struct family *f, const struct family_binding *b, int which,
                  const uint8_t *data, size_t size)
{
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops d;
	enum family_reject why = REJECT_NONE;
	int n = -1, rc;

	rc = f->decode(b, which, data, size, v, &n, &why, &d);
	FUZZ_CHECK(d.count >= 0);
	FUZZ_CHECK(d.count == 0 || (d.field && d.reason));
	if (rc < 0) {
		FUZZ_CHECK(why > REJECT_NONE && why < REJECT__COUNT);
		FUZZ_CHECK(n == 0);
		return;
	}
	FUZZ_CHECK(n >= 0 && n <= FAMILY_MAX_VALUES);
	for (int i = 0; i < n; i++) {
		FUZZ_CHECK((unsigned)v[i].point < POINT__COUNT);
		FUZZ_CHECK(isfinite(v[i].value));
		if (v[i].point == POINT_TEMPERATURE)
			FUZZ_CHECK(v[i].value >= -60 && v[i].value <= 250);
		for (int j = i + 1; j < n; j++)
			FUZZ_CHECK(v[i].point != v[j].point);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct family *f = family_find("tasmota");
	char topics[FAMILY_MAX_TOPICS][256];

	bind_all(f);
	for (size_t i = 0; i < NSHAPES; i++) {
		int nt = f->topics(&bindings[i], topics, FAMILY_MAX_TOPICS);
		FUZZ_CHECK(nt == 4);
		for (int which = 0; which <= nt; which++)
			check(f, &bindings[i], which, data, size);
	}
	return 0;
}
