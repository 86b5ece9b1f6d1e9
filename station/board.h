/*
 * board.h: the station's live picture: every site and every active alarm,
 * in memory, kept in step with the store.
 *
 * The feed decides an alarm's state; the board never changes a gateway's
 * alarm by itself. An acknowledgment clicked on the console is only marked
 * "sent" (ack_pending) until the gateway's feed says acknowledged.
 *
 * Lost contact (EN 50136's reporting time): a site that has not reported
 * for longer than its window, or whose retained status is its will
 * (offline), gets a station-made alarm of class lost_contact (negative id).
 * When the site reports again the alarm clears; it closes once an officer
 * has acknowledged it (like a fault on a panel, an unseen loss stays on the
 * screen). Contact times use the monotonic clock, so a wall-clock step on
 * the station never makes a house look silent; after a station restart every
 * site gets a full window before it can be called lost (a site that was
 * lost stays lost until it reports).
 *
 * Everything runs on the loop thread. Store writes happen inside the
 * caller's transaction (sstore_begin/commit).
 */
#ifndef SH_BOARD_H
#define SH_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "station/sfeed.h"
#include "station/sstore.h"

struct board;
struct sconfig;
struct cJSON;

struct board_hooks {
	/* An alarm changed (raised, new state, ack sent, closed). */
	void (*alarm_changed)(void *ctx, struct board *b, const char *site, int64_t id);
	/* A site changed (first seen, online, lost contact, counts). */
	void (*site_changed)(void *ctx, struct board *b, const char *site);
};

struct board_stats {
	int64_t messages[SFEED__COUNT];
	int64_t duplicates;
	int64_t stale; /* older than what was applied (kept in the feed only) */
};

/* c and st must outlive the board. hooks may be NULL. */
struct board *board_new(const struct sconfig *c, struct sstore *st, const struct board_hooks *hooks,
                        void *ctx);
void board_free(struct board *b);
/* The directory (config) and what the store kept. now_mono: the start of
 * every site's grace window. 0 or negative. */
int board_load(struct board *b, int64_t wall_ms, int64_t now_mono);

/* Apply one checked message. retained: the broker's retained copy (old
 * news: it updates what the site said, but is not contact). payload is
 * kept in the feed as is. Returns 1 applied, 0 a duplicate (site, seq) or
 * stale, negative when the store failed (nothing may be acknowledged then). */
int board_apply(struct board *b, const struct sfeed_msg *m, const char *payload, size_t len,
                int retained, int64_t wall_ms, int64_t now_mono);

/* Stations sharing one database (PostgreSQL): only the timekeeper raises
 * and clears lost contact in the store (once for all); the others take the
 * timekeeper's station alarms from board_station_alarm. A board is its own
 * timekeeper until told otherwise. */
void board_set_timekeeper(struct board *b, int on);
/* A station alarm (id < 0) as another station stored it: added, updated
 * or closed on this board, the site's lost-contact flag following it; the
 * hooks fire (the console's streams). Nothing is written. 1 applied, 0 ours
 * was newer, negative on error. */
/* Another station sharing the database stored a change of a gateway's
 * alarm (its notification "galarm SITE ID"): take the stored row if it is
 * newer than what this board has. */
int board_gateway_alarm(struct board *b, const char *site, int64_t id, int64_t now_mono);
int board_station_alarm(struct board *b, const struct salarm *a, int64_t now_mono);

/* Every site's contact clock starts again at now_mono: after a silence that
 * was the station's own (it had stopped taking messages), no house is
 * called lost for it. */
void board_grace(struct board *b, int64_t now_mono);

/* Raise and clear lost contact. Call at least every 10 s. */
int board_check(struct board *b, int64_t wall_ms, int64_t now_mono);

/* The console's acknowledgment of (site, id) by user. For a gateway alarm:
 * 0 when the ack may be sent (the caller publishes it, then calls
 * board_ack_sent); for a station alarm the board acknowledges it itself and
 * returns 1. -ENOENT unknown alarm, -EALREADY already acknowledged. */
int board_ack(struct board *b, const char *site, int64_t id, const char *user, int64_t wall_ms);
void board_ack_sent(struct board *b, const char *site, int64_t id, const char *user,
                    int64_t wall_ms);

/* JSON views (station-api.md). Caller frees. */
struct cJSON *board_alarm_json(struct board *b, const char *site, int64_t id);
struct cJSON *board_alarms_json(struct board *b, int64_t wall_ms);
struct cJSON *board_site_json(struct board *b, const char *site, int64_t now_mono);
/* q: search text (name, address, id, phone; case-insensitive), filter:
 * all online lost alarm faults disabled (NULL: all). */
struct cJSON *board_sites_json(struct board *b, const char *q, const char *filter, int64_t wall_ms,
                               int64_t now_mono);
/* One site's page: site, status, alarm history, journal. NULL: unknown. */
struct cJSON *board_site_page(struct board *b, const char *site, int64_t now_mono);

/* A line in the station's journal (inside the caller's transaction). */
int board_journal(struct board *b, int64_t wall_ms, const char *site, const char *what,
                  const char *by, const char *detail);

/* A reloaded config (valid): the directory's names, groups and windows
 * apply at once; c must outlive the board. */
void board_set_config(struct board *b, const struct sconfig *c);

void board_stats(const struct board *b, struct board_stats *out);
size_t board_site_count(const struct board *b);
int board_site_known(const struct board *b, const char *site);

#endif
