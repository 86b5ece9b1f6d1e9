/*
 * mqttc.h: one MQTT connection driven by the event loop.
 *
 * libmosquitto runs in its non-threaded mode: the loop polls the socket and
 * calls mosquitto_loop_read/write/misc, so every callback runs on the loop
 * and no state is shared with a thread. Connecting is asynchronous, so an
 * unreachable upstream broker never stalls the loop (give it an IP address
 * or a name in /etc/hosts: name resolution itself is blocking).
 *
 * After a lost connection the client object is destroyed and a fresh one
 * connects with exponential backoff (1 s .. 30 s). Anything that must not be
 * lost is therefore kept by the caller (the store's outbox) and sent again
 * from on_connect, never left in libmosquitto's queue.
 */
#ifndef SH_MQTTC_H
#define SH_MQTTC_H

#include <stddef.h>

struct loop;
struct mqttc;
struct mosquitto_message;

struct mqttc_params {
	const char *name; /* for logs: "local", "upstream" */
	const char *host;
	int port;
	const char *username, *password;
	const char *client_id;
	int keepalive_s;
	int tls;
	const char *cafile;
	/* Last will (retained), or NULL. */
	const char *will_topic;
	const char *will_payload;
};

struct mqttc_callbacks {
	void (*on_connect)(void *ctx);
	void (*on_disconnect)(void *ctx);
	void (*on_message)(void *ctx, const struct mosquitto_message *m);
	void (*on_publish)(void *ctx, int mid);
};

/* Copies params. Starts connecting at once. Returns NULL on error. */
struct mqttc *mqttc_new(struct loop *l, const struct mqttc_params *p,
                        const struct mqttc_callbacks *cb, void *ctx);
void mqttc_free(struct mqttc *c);

int mqttc_connected(const struct mqttc *c);

/* Publish; *mid (may be NULL) receives the message id for on_publish.
 * Returns 0, or -1 when not connected or on error. The packet is written to
 * the socket before this returns whenever the socket accepts it. */
int mqttc_publish(struct mqttc *c, const char *topic, const void *payload, size_t len, int qos,
                  int retain, int *mid);

/* Subscribe (QoS 1). Only valid while connected: call from on_connect. */
int mqttc_subscribe(struct mqttc *c, const char *topic);
int mqttc_unsubscribe(struct mqttc *c, const char *topic);

/* Write whatever libmosquitto still has queued (called after callbacks). */
void mqttc_flush(struct mqttc *c);

/* Disconnect cleanly (the will is not sent). */
void mqttc_disconnect(struct mqttc *c);

#endif
