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
 * The functions on a struct hass publish the states when they changed,
 * through the daemon's publish function; the rest only build topics and
 * payloads.
 */
#ifndef SH_HASS_H
#define SH_HASS_H

#include <stddef.h>

#include "../sensors/point.h"

struct config;
struct cJSON;
struct panel;
struct registry;
struct store;
struct hass;

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

/* ---- the published states -------------------------------------------- */

/* What a struct hass publishes and reads. All states are retained. */
struct hass_deps {
	const struct config *cfg; /* replaced by hass_rebind() */
	struct panel *panel;
	struct registry *reg;
	struct store *store;
	const char *version;
	void (*publish)(void *ctx, const char *topic, const char *payload, int qos);
	void (*subscribe)(void *ctx, const char *topic);
	void *ctx;
};

/* NULL when out of memory. Does nothing while the config's Home Assistant
 * support is off. hass_free(NULL) is allowed. */
struct hass *hass_new(const struct hass_deps *d);
void hass_free(struct hass *h);
/* A new config: the caches start again (everything is unknown). */
int hass_rebind(struct hass *h, const struct config *cfg);
/* The output connection is (again) up: discovery, the panel's command
 * topic, and every state, whether it changed or not. */
void hass_announce(struct hass *h);
/* Publish what changed (force: even what did not). */
void hass_sync_sensor(struct hass *h, int sensor, int force);
void hass_sync_sensors(struct hass *h);
void hass_sync_panel(struct hass *h, int force);
void hass_sync_gateway(struct hass *h, int force);
/* Whether topic is the panel's command topic (PREFIX/SITE/panel/set). */
int hass_is_command_topic(const struct hass *h, const char *topic);

#endif
