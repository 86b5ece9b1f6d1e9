/*
 * channel.c: the config faces of the alert channels. A channel whose
 * module parses keys of its own exports its channel_conf; the list is here.
 */
#include "channel.h"

#include <cjson/cJSON.h>
#include <stddef.h>

static const struct channel_conf conf_upstream = {.via = VIA_UPSTREAM};
static const struct channel_conf conf_sms = {.via = VIA_SMS};
static const struct channel_conf conf_call = {.via = VIA_CALL};

/* Until the webhook module has its presets, a webhook step needs its url. */
static int webhook_configure(struct config_step *st, const struct cJSON *obj,
                             const struct cfg_report *r)
{
	/* A bad url was reported already. */
	if (st->url || cJSON_GetObjectItemCaseSensitive(obj, "url"))
		return 0;
	r->report(r->ctx, 0, obj, "", "missing key \"url\": a webhook step needs its URL");
	return -1;
}

static const struct channel_conf conf_webhook = {.via = VIA_WEBHOOK,
                                                 .configure = webhook_configure};

static const struct channel_conf *const confs[] = {
    [VIA_UPSTREAM] = &conf_upstream,
    [VIA_SMS] = &conf_sms,
    [VIA_CALL] = &conf_call,
    [VIA_WEBHOOK] = &conf_webhook,
};

const struct channel_conf *channel_conf_find(enum contact_via v)
{
	return (unsigned)v < sizeof(confs) / sizeof(confs[0]) ? confs[v] : NULL;
}
