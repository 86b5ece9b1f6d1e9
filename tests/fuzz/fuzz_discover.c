/*
 * fuzz_discover.c: the bridge/devices classifier (sensors/z2m_discover.c)
 * on whatever a broker may hold under zigbee2mqtt/bridge/devices. Checks
 * the contract, not just the absence of crashes: an unclassified device
 * always has a reason, a siren's form is the one its exposes match, and
 * the kind check answers for every kind.
 */
#include <cjson/cJSON.h>

#include "fuzz.h"
#include "sensors/z2m_discover.h"
#include "sensors/z2m_siren.h"

static void one(const cJSON *dev)
{
	struct z2m_discover_class c;
	const cJSON *exposes;
	char why[160];
	if (z2m_discover_classify(dev, &c) < 0)
		return;
	FUZZ_CHECK(memchr(c.why, 0, sizeof(c.why)));
	exposes = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(dev, "definition"), "exposes");
	if (c.what == Z2M_DISCOVER_NONE)
		FUZZ_CHECK(c.why[0]);
	if (c.what == Z2M_DISCOVER_SIREN) {
		const char *f = z2m_siren_form_of(exposes);
		FUZZ_CHECK(c.siren && f && strcmp(f, c.siren) == 0);
	}
	if (c.what == Z2M_DISCOVER_SENSOR)
		FUZZ_CHECK(z2m_discover_kind_ok(exposes, c.kind, why, sizeof(why)) == 0);
	for (int k = 0; k < KIND__COUNT; k++)
		if (z2m_discover_kind_ok(exposes, (enum sh_kind)k, why, sizeof(why)) < 0)
			FUZZ_CHECK(why[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);
	const cJSON *d;
	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(d, root)
		{
			one(d);
		}
	} else if (root) {
		one(root);
	}
	cJSON_Delete(root);
	return 0;
}
