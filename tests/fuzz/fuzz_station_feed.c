/*
 * fuzz_station_feed.c: a message on the commune broker as the station reads
 * it (anyone who can publish there can send anything): topic split and the
 * payload checks of every kind. The first byte picks the kind.
 */
#include "fuzz.h"

#include "station/sfeed.h"

static int terminated(const char *s, size_t size)
{
	return memchr(s, 0, size) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sfeed_msg m;
	char why[256], site[SSTORE_ID_MAX], topic[300];
	enum sfeed_kind kind;
	int rc;
	if (size < 1)
		return 0;
	kind = (enum sfeed_kind)(data[0] % SFEED__COUNT);
	rc = sfeed_parse(kind, "nt-fuzz", (const char *)data + 1, size - 1, &m, why, sizeof(why));
	FUZZ_CHECK(rc == 0 || rc == -1);
	FUZZ_CHECK(terminated(why, sizeof(why)));
	if (rc == 0) {
		FUZZ_CHECK(m.kind == kind);
		FUZZ_CHECK(strcmp(m.alarm.site, "nt-fuzz") == 0);
		if (kind == SFEED_ALARM || kind == SFEED_ALERT || kind == SFEED_NOTIFY)
			FUZZ_CHECK(m.seq >= 1);
		if (kind == SFEED_ALARM) {
			FUZZ_CHECK(m.alarm.id >= 1);
			FUZZ_CHECK(sfeed_class_rank(m.alarm.cls) < 99);
		}
		FUZZ_CHECK(terminated(m.alarm.message, sizeof(m.alarm.message)));
		FUZZ_CHECK(terminated(m.name, sizeof(m.name)));
		FUZZ_CHECK(terminated(m.log_hash, sizeof(m.log_hash)));
		FUZZ_CHECK(!m.has_geo ||
		           (m.lat >= -90 && m.lat <= 90 && m.lon >= -180 && m.lon <= 180));
	}
	/* The same bytes as a topic. */
	if (size - 1 < sizeof(topic)) {
		memcpy(topic, data + 1, size - 1);
		topic[size - 1] = '\0';
		if (sfeed_topic("safehouse", topic, site, &kind, why, sizeof(why)) == 0) {
			FUZZ_CHECK(site[0] && !strchr(site, '/') && !strchr(site, '+') &&
			           !strchr(site, '#'));
			FUZZ_CHECK((unsigned)kind < SFEED__COUNT);
		}
	}
	return 0;
}
