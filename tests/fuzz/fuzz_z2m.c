/*
 * fuzz_z2m.c: the zigbee2mqtt decoder, on the state and the availability
 * topic. Checks the decode contract, not just the absence of crashes: at
 * most one value per point, known points, finite values, a reason on every
 * refusal and a described field for every drop.
 */
#include <math.h>

#include "fuzz.h"
#include "sensors/family.h"

/* Some keys mean a different point by the sensor's kind ("alarm", "smoke",
 * "action"): every input is decoded for each of these. */
static struct family_binding bindings[] = {
    {.topic = "t", .format = "zigbee2mqtt", .kind = KIND_SMOKE},
    {.topic = "t", .format = "zigbee2mqtt", .kind = KIND_HEAT},
    {.topic = "t", .format = "zigbee2mqtt", .kind = KIND_PANIC},
    {.topic = "t", .format = "zigbee2mqtt", .kind = KIND_SIREN_FEEDBACK},
};

static void check(const struct family_binding *b, int which, const uint8_t *data, size_t size)
{
	const struct family *f = family_find("zigbee2mqtt");
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
		if (v[i].point == POINT_BATTERY)
			FUZZ_CHECK(v[i].value >= 0 && v[i].value <= 100);
		if (!sh_point_is_numeric(v[i].point))
			FUZZ_CHECK(v[i].value == 0 || v[i].value == 1);
		for (int j = i + 1; j < n; j++)
			FUZZ_CHECK(v[i].point != v[j].point);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < sizeof(bindings) / sizeof(bindings[0]); i++)
		check(&bindings[i], 0, data, size);
	check(&bindings[0], 1, data, size);
	return 0;
}
