/*
 * mqttc.h: one MQTT connection driven by the event loop.
 *
 * libmosquitto runs in its non-threaded mode: the loop polls the socket and
 * calls mosquitto_loop_read/write/misc, so every callback runs on the loop
 * and no state is shared with a thread. Connecting is asynchronous, so an
 * unreachable upstream broker never stalls the loop. A host given by name
 * is resolved and connected on a short-lived thread of its own (the
 * resolver blocks, and TLS must verify the certificate against the name,
 * so libmosquitto gets the name); an IP address connects on the loop.
 *
 * After a lost connection the client object is destroyed and a fresh one
 * connects with exponential backoff (backoff_min_ms, default 1 s, doubling
 * to 30 s). With several broker addresses (the nodes of a cluster), a
 * failed attempt or a lost link moves to the next address at once, round
 * robin, and the backoff applies only after a whole round failed: a dead
 * node must not cost the seconds of a backoff when its peers are up. Anything that must not be lost
 * is therefore kept by the caller (the store's outbox) and sent again from on_connect, never left
 * in libmosquitto's queue. With `persistent`, the fresh client has the same id and clean session
 * off, so the broker resumes the session: subscriptions and what was queued for us while we were
 * away (a cluster shares the session between its nodes, so this holds across a failover too).
 *
 * Callers subscribe again from every on_connect; when the broker says it
 * kept our session (CONNACK session present), what it granted us before in
 * this run is in that session and is not sent again: on a cluster each
 * SUBSCRIBE is a consumer to create through leaders that may be in an
 * election (a broker that lost the session, or a new run, gets them all).
 *
 * A subscription the broker refuses (SUBACK 0x80: an ACL, or a cluster
 * still electing its stream leaders) is logged as an error with its topic
 * and the link is dropped and made again after the usual delay, so the
 * subscription is retried: a client never runs silently without one.
 *
 * Deferred acknowledgment (defer_acks): libmosquitto queues the PUBACK of a
 * QoS 1 message before it calls on_message. Such a connection is put in
 * libmosquitto's "threaded" mode, in which queued packets are only written
 * when we call mosquitto_loop_write, and we hold every write while a message
 * read is not yet covered by a durable commit: after each read burst that
 * delivered QoS 1 messages, callbacks.barrier asks the owner to make durable
 * what it derived from them and to call done(dctx, rc) afterwards; the acks
 * go out then (also when rc < 0, or after HOLD_MAX_MS: the broker must never
 * stop delivering to us). A crash before that leaves the messages unacked,
 * and the broker delivers them again to the resumed session. Only for a
 * connection that subscribes: its publishes wait behind the acks.
 */
#ifndef SH_MQTTC_H
#define SH_MQTTC_H

#include <stddef.h>

struct loop;
struct mqttc;
struct mosquitto_message;

/* The most broker addresses a client fails over between. */
#define MQTTC_ADDRS_MAX 8
/* "host:port" or "[v6]:port", with its NUL. */
#define MQTTC_PEER_MAX 280

/* One broker address; host is a name or an IP address (no brackets). */
struct mqttc_addr {
	const char *host;
	int port; /* 0: 1883 */
};

struct mqttc_params {
	const char *name; /* for logs: "local", "upstream" */
	/* The brokers, tried in this order, round robin (naddrs 1 to
	 * MQTTC_ADDRS_MAX, copied); addrs NULL: the one at host and port. */
	const struct mqttc_addr *addrs;
	int naddrs;
	const char *host;
	int port;
	const char *username, *password;
	const char *client_id;
	int keepalive_s;
	int tls;
	const char *cafile;
	const char *certfile, *keyfile; /* client certificate, or NULL */
	/* Last will (retained), or NULL. */
	const char *will_topic;
	const char *will_payload;
	int persistent;     /* clean session off: the broker keeps our session */
	int backoff_min_ms; /* first reconnect delay; 0: 1000 */
	int defer_acks;     /* see above; needs callbacks.barrier */
};

typedef void (*mqttc_done_fn)(void *dctx, int rc);

struct mqttc_callbacks {
	void (*on_connect)(void *ctx);
	void (*on_disconnect)(void *ctx);
	void (*on_message)(void *ctx, const struct mosquitto_message *m);
	void (*on_publish)(void *ctx, int mid);
	/* defer_acks: make durable everything derived from the messages
	 * delivered so far, then call done(dctx, rc) (rc < 0: it failed) on the
	 * loop, exactly once (it may be called before barrier returns). */
	void (*barrier)(void *ctx, mqttc_done_fn done, void *dctx);
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

/* Subscribe (QoS 1: a report published at QoS 1 reaches us at QoS 1, is
 * queued for a persistent session while we are away and is redelivered
 * until acknowledged). Only valid while connected: call from on_connect.
 * Returns 0 without sending when a resumed session has it already. */
int mqttc_subscribe(struct mqttc *c, const char *topic);
/* The same at another QoS: 0 for what must never be queued for us while we
 * are away (a command must not run hours after it was given). */
int mqttc_subscribe_qos(struct mqttc *c, const char *topic, int qos);
int mqttc_unsubscribe(struct mqttc *c, const char *topic);

/* Write whatever libmosquitto still has queued (called after callbacks). */
void mqttc_flush(struct mqttc *c);

/* Why the link is down, in libmosquitto's or OpenSSL's words ("TLS:
 * certificate verify failed", "Connection Refused: not authorised.",
 * "Connection refused"), or NULL when connected or not known yet. Owned by
 * c, valid until its next call. Never holds a secret. */
const char *mqttc_error(const struct mqttc *c);

/* The broker connected to, as "host:port" ("[v6]:port"), or NULL when not
 * connected. Owned by c, valid until its next call. */
const char *mqttc_peer(const struct mqttc *c);

/* "host:port" of a into buf (MQTTC_PEER_MAX bytes); returns buf. */
const char *mqttc_format_addr(char *buf, size_t size, const char *host, int port);

/* defer_acks: messages read whose acks are held (status, tests). */
int mqttc_unacked(const struct mqttc *c);

/* defer_acks: the caller has just made everything durable by itself (a
 * blocking store_commit at a clean stop): write the held acks now, so the
 * broker does not deliver those messages again to the next run. */
void mqttc_acks_durable(struct mqttc *c);

/* Disconnect cleanly (the will is not sent). */
void mqttc_disconnect(struct mqttc *c);

#endif
