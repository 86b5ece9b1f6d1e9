/*
 * fuzz_tasmota.c: the tasmota decoder (LWT words today; JSON telemetry when
 * it comes) and its relay encoder.
 */
#include "fuzz.h"
#include "sensors/family.h"

static struct family_binding binding = {.topic = "t", .format = "tasmota", .kind = KIND_SMOKE};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct family *f = family_find("tasmota");
	struct sh_point_value v[FAMILY_MAX_VALUES];
	struct family_drops d;
	enum family_reject why = REJECT_NONE;
	int n = -1;

	for (int which = 0; which < 2; which++) {
		if (f->decode(&binding, which, data, size, v, &n, &why, &d) < 0) {
			FUZZ_CHECK(why > REJECT_NONE && why < REJECT__COUNT);
			continue;
		}
		FUZZ_CHECK(n >= 0 && n <= FAMILY_MAX_VALUES);
		for (int i = 0; i < n; i++)
			FUZZ_CHECK((unsigned)v[i].point < POINT__COUNT);
	}
	return 0;
}
