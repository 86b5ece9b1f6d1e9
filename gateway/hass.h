/*
 * hass.h: Home Assistant MQTT discovery.
 *
 * The gateway appears in Home Assistant by itself: one alarm_control_panel
 * (a code is required; Home Assistant passes it on and the gateway checks
 * it) and one binary_sensor per sensor, with its device_class, availability
 * and the state topics the daemon publishes (retained, on the local broker):
 *
 *   PREFIX/SITE/panel/state            disarmed, armed_home, armed_night,
 *                                      armed_away, triggered
 *   PREFIX/SITE/panel/set              {"action":"ARM_AWAY","code":"1234"}
 *   PREFIX/SITE/sensor/ID/state        ON / OFF
 *   PREFIX/SITE/sensor/ID/availability online / offline
 *
 * This module only builds topics and payloads; the daemon publishes them.
 */
#ifndef SH_HASS_H
#define SH_HASS_H

#include <stddef.h>

#include "../sensors/point.h"

struct config;
struct cJSON;

typedef void (*hass_emit_fn)(void *ctx, const char *topic, const char *payload);

/* Every discovery message of the site (config topics, retained JSON). */
void hass_discovery(const struct config *c, const char *version, hass_emit_fn emit, void *ctx);

/* HA's device_class of a kind, or NULL (generic). */
const char *hass_device_class(enum sh_kind k);

/* State topics. */
void hass_panel_state_topic(const struct config *c, char *buf, size_t size);
void hass_panel_command_topic(const struct config *c, char *buf, size_t size);
/* Retained JSON {"fault":"ON"|"OFF","faults":N,"store":"ok"|REASON}. */
void hass_gateway_state_topic(const struct config *c, char *buf, size_t size);
void hass_sensor_topic(const struct config *c, int sensor, const char *leaf, char *buf,
                       size_t size);

/* The panel's state word for HA. */
const char *hass_panel_state(enum sh_mode mode, int triggered);

/* Turn an HA panel command ({"action":"ARM_AWAY","code":"1234"}) into a
 * command for the gateway ({"cmd":"arm","mode":"away","code":"1234"}).
 * Returns a new object (caller frees) or NULL with why set. */
struct cJSON *hass_command(const char *payload, size_t len, const char **why);

#endif
