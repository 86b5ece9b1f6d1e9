/*
 * fuzz_json.c: the generic JSON decoder, on every topic of three devices
 * as a config sets them up (ESPHome plain values with birth/will, an ESP32
 * object read through nested paths, an array index and a scale, custom
 * on/off words). Checks the decode contract, not just the absence of
 * crashes: at most one value per point, known points, on/off points 0 or 1,
 * numbers finite and in range, a reason on every refusal and a described
 * field for every drop.
 */
#include <math.h>

#include "fuzz.h"
#include "sensors/family.h"

static const char site[] =
    "{\"site\": {\"id\": \"fz\"}, \"zones\": [{\"id\": \"z\"}], \"sensors\": ["
    "{\"id\": \"a\", \"kind\": \"smoke\", \"zone\": \"z\", \"mqtt\": {\"format\": \"json\","
    " \"topic\": \"a/smoke\", \"points\": [{\"point\": \"detected\"},"
    " {\"point\": \"temperature\", \"topic\": \"a/t\"}, {\"point\": \"battery\", \"topic\":"
    " \"a/b\"}], \"availability\": {\"topic\": \"a/status\"}}},"
    "{\"id\": \"b\", \"kind\": \"heat\", \"zone\": \"z\", \"mqtt\": {\"format\": \"json\","
    " \"topic\": \"b\", \"points\": [{\"point\": \"detected\", \"path\": \"alarm.heat\"},"
    " {\"point\": \"temperature\", \"path\": \"s[1].t\"}, {\"point\": \"battery\", \"path\":"
    " \"bat\", \"scale\": 0.5}, {\"point\": \"tamper\", \"path\": \"[0]\"},"
    " {\"point\": \"panic\", \"path\": \"sos\"}]}},"
    "{\"id\": \"c\", \"kind\": \"door\", \"zone\": \"z\", \"mqtt\": {\"format\": \"json\","
    " \"topic\": \"c\", \"points\": [{\"point\": \"detected\", \"path\": \"state\", \"on\":"
    " [\"OPEN\", 2], \"off\": [\"CLOSED\", false]}]}}]}";

static const struct config *config(void)
{
	static struct config *c;
	if (!c) {
		int ne = 0;
		log_set_level(LOG_EMERG);
		c = config_load_string(site, "fuzz_json", NULL, fuzz_quiet_diag, NULL, &ne);
		if (!c) {
			fprintf(stderr, "fuzz_json: the site does not load (%d errors)\n", ne);
			abort();
		}
	}
	return c;
}

static void check(const struct family_binding *b, int which, const uint8_t *data, size_t size)
{
	const struct family *f = family_find("json");
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
		else if (v[i].point == POINT_TEMPERATURE)
			FUZZ_CHECK(v[i].value >= -60 && v[i].value <= 250);
		else
			FUZZ_CHECK(v[i].value == 0 || v[i].value == 1);
		for (int j = i + 1; j < n; j++)
			FUZZ_CHECK(v[i].point != v[j].point);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config *c = config();
	const struct family *f = family_find("json");

	for (int s = 0; s < c->nsensors; s++) {
		char topics[FAMILY_MAX_TOPICS][256];
		int nt = f->topics(&c->sensors[s].mqtt, topics, FAMILY_MAX_TOPICS);
		FUZZ_CHECK(nt >= 1 && nt <= FAMILY_MAX_TOPICS);
		for (int t = 0; t < nt; t++)
			check(&c->sensors[s].mqtt, t, data, size);
	}
	return 0;
}
