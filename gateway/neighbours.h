/*
 * neighbours.h: the neighbour group (tổ liên gia an toàn PCCC): the alarm
 * feeds of the houses the config lists under "neighbours", as the other
 * gateways publish them (PREFIX/SITE/alarm, upstream.h), turned into
 * events the rules can use (`when neighbour fire becomes raised`).
 *
 * The feeds come over the upstream broker (the local one when no upstream
 * is configured: that is where the feeds go then). While that link is
 * down nothing arrives and nothing can: status says so. The feed is
 * delivered at least once; a message seen before (same site and seq) is
 * dropped, so a re-delivery does not sound the sirens again. A malformed
 * message changes nothing: it is counted and logged (at most once a
 * minute, with how many were not logged).
 */
#ifndef SH_NEIGHBOURS_H
#define SH_NEIGHBOURS_H

#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"
#include "../sensors/point.h"

struct config;
struct neighbours;

/* A message older than this (its "at" against our clock) is not sounded:
 * a fire next door that the feed brings an hour late (the neighbour's
 * link was down) is news for the owner, not a reason to wake the house.
 * Generous, since two gateways' clocks may differ. */
#define NEIGHBOURS_MAX_AGE_MS (15LL * 60 * 1000)

struct neighbours_event {
	int neighbour; /* index into config neighbours */
	enum sh_alarm_class cls;
	enum rules_alarm_event ev;
	int64_t seq;
	char address[256]; /* the neighbour's address from its feed, "" if none */
};

/* Counters for status, kept across reloads. */
struct neighbours_stats {
	uint64_t received;   /* messages on a neighbour's feed topic */
	uint64_t events;     /* handed to the rules */
	uint64_t duplicates; /* seen before (site, seq) */
	uint64_t ignored;    /* a class the group does not follow, or too old */
	uint64_t bad;        /* malformed */
};

/* The caller frees it with neighbours_free. */
struct neighbours *neighbours_new(void);
void neighbours_free(struct neighbours *nb);

/* PREFIX/SITE/alarm of neighbour i into buf; -1 when out of range. */
int neighbours_topic(const struct config *c, int i, char *buf, size_t size);
/* The neighbour whose feed topic this is, or -1. */
int neighbours_match(const struct config *c, const char *topic);

/* One message from neighbour i's feed. Returns 1 with *ev filled: an event
 * for the rules; 0: nothing to do (a duplicate, a class not followed, too
 * old; logged at debug or info); -1: malformed (counted and logged, rate
 * limited). mono_ms paces the log; wall_ms judges the message's age. */
int neighbours_parse(struct neighbours *nb, const struct config *c, int i, const void *payload,
                     size_t len, int64_t mono_ms, int64_t wall_ms, struct neighbours_event *ev);

void neighbours_stats(const struct neighbours *nb, struct neighbours_stats *st);

#endif
