/*
 * tasmota.c: the Tasmota payload family.
 *
 * This version drives Tasmota relays (a siren on a relay: "ON"/"OFF" on the
 * output's cmnd/T/POWER topic) and reads a device's availability from its
 * retained tele/T/LWT ("Online"/"Offline"). Sensor telemetry (tele/T/SENSOR,
 * tele/T/STATE) arrives with the multi-family work; until then such messages
 * are rejected as "no_fields", never guessed at.
 */
#include "family.h"

#include <stdio.h>
#include <string.h>

/* The configured topic of a Tasmota device is its %topic% (e.g. "kitchen"). */
static int tasmota_topics(const struct family_binding *b, char out[][256], int max)
{
	const char *base = b->topic;
	if (max < 1)
		return 0;
	snprintf(out[0], 256, "tele/%s/LWT", base);
	return 1;
}

static int tasmota_decode(const struct family_binding *b, int which, const void *payload,
                          size_t len, struct sh_point_value *out, int *n, enum family_reject *why,
                          struct family_drops *drops)
{
	(void)b; /* no per-device options yet */
	*n = 0;
	/* LWT is a plain word, no fields to drop. JSON telemetry, when it
	 * comes, follows zigbee2mqtt's field-by-field rule. */
	if (drops)
		memset(drops, 0, sizeof(*drops));
	if (len > FAMILY_MAX_PAYLOAD) {
		*why = REJECT_TOO_LARGE;
		return -1;
	}
	if (which != 0) {
		*why = REJECT_UNKNOWN_TOPIC;
		return -1;
	}
	if (len == 7 && memcmp(payload, "Offline", 7) == 0) {
		out[0].value = 0;
	} else if (len == 6 && memcmp(payload, "Online", 6) == 0) {
		out[0].value = 1;
	} else {
		*why = REJECT_BAD_VALUE;
		return -1;
	}
	out[0].point = POINT_ONLINE;
	*n = 1;
	return 0;
}

static int tasmota_encode_output(const struct family_binding *b,
                                 const struct family_output_cmd *cmd, char *buf, size_t size)
{
	(void)b; /* no per-device options yet */
	int len = snprintf(buf, size, "%s", cmd->on ? "ON" : "OFF");
	return len < 0 || (size_t)len >= size ? -1 : len;
}

const struct family family_tasmota = {
    .name = "tasmota",
    .topics = tasmota_topics,
    .decode = tasmota_decode,
    .encode_output = tasmota_encode_output,
};
