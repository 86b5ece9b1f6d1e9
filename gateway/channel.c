/*
 * channel.c: the config faces of the alert channels. A channel whose
 * module parses keys of its own exports its channel_conf; the list is here.
 */
#include "channel.h"
#include "webhook.h"

#include <stddef.h>

static const struct channel_conf conf_upstream = {.via = VIA_UPSTREAM};
static const struct channel_conf conf_sms = {.via = VIA_SMS};
static const struct channel_conf conf_call = {.via = VIA_CALL};

static const struct channel_conf *const confs[] = {
    [VIA_UPSTREAM] = &conf_upstream,
    [VIA_SMS] = &conf_sms,
    [VIA_CALL] = &conf_call,
    [VIA_WEBHOOK] = &webhook_conf,
};

const struct channel_conf *channel_conf_find(enum contact_via v)
{
	return (unsigned)v < sizeof(confs) / sizeof(confs[0]) ? confs[v] : NULL;
}
