/*
 * alerts.c: SMS replies and calls that acknowledge an alarm.
 */
#include "alerts.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "panel.h"
#include "store.h"
#include "upstream.h"

/* Lower-case ASCII, and the capital letters of "NHẬN" people type: Ậ
 * (U+1EAC, e1 ba ac) becomes ậ (U+1EAD, e1 ba ad). */
static void fold(const char *in, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; in[i] && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)in[i];
		if (ch == 0xe1 && (unsigned char)in[i + 1] == 0xba &&
		    (unsigned char)in[i + 2] == 0xac && o + 3 < size) {
			out[o++] = (char)0xe1;
			out[o++] = (char)0xba;
			out[o++] = (char)0xad;
			i += 2;
			continue;
		}
		out[o++] = (char)tolower(ch);
	}
	out[o] = 0;
}

int alerts_parse_reply(const char *text, int64_t *alarm)
{
	static const char *const words[] = {"ok", "okay", "1", "nhận", "nhan", NULL};
	char buf[64], *p, *end, *num;
	size_t len;
	int hit = 0;

	*alarm = 0;
	if (!text || strlen(text) >= sizeof(buf))
		return 0;
	fold(text, buf, sizeof(buf));
	p = buf;
	while (isspace((unsigned char)*p))
		p++;
	len = strlen(p);
	while (len &&
	       (isspace((unsigned char)p[len - 1]) || p[len - 1] == '.' || p[len - 1] == '!'))
		p[--len] = 0;
	/* The word, then at most an alarm number. */
	end = p;
	while (*end && !isspace((unsigned char)*end))
		end++;
	num = end;
	while (isspace((unsigned char)*num))
		num++;
	*end = 0;
	for (int i = 0; words[i]; i++)
		hit |= strcmp(p, words[i]) == 0;
	if (!hit)
		return 0;
	if (*num) {
		char *e;
		long long v;
		if (*num == '#')
			num++;
		errno = 0;
		v = strtoll(num, &e, 10);
		if (errno || *e || e == num || v <= 0)
			return 0; /* "ok thanks": not an acknowledgment we can be sure of */
		*alarm = v;
	}
	return 1;
}

/* The national form: digits only, +84 / 84 / 0084 as 0. */
static void national(const char *in, char *out, size_t size)
{
	size_t o = 0;
	const char *d;
	char digits[40];
	size_t n = 0;
	for (; in && *in && n + 1 < sizeof(digits); in++)
		if (isdigit((unsigned char)*in))
			digits[n++] = *in;
	digits[n] = 0;
	d = digits;
	if (strncmp(d, "0084", 4) == 0)
		d += 4;
	else if (n >= 11 && strncmp(d, "84", 2) == 0)
		d += 2;
	if (d != digits && o + 1 < size)
		out[o++] = '0';
	snprintf(out + o, size - o, "%s", d);
}

int alerts_same_phone(const char *a, const char *b)
{
	char x[40], y[40];
	if (!a || !b)
		return 0;
	national(a, x, sizeof(x));
	national(b, y, sizeof(y));
	return x[0] && strlen(x) >= 6 && strcmp(x, y) == 0;
}

int alerts_find_contact(const struct config *c, const char *phone, int *step)
{
	for (int i = 0; i < c->ncontacts; i++) {
		const struct config_contact *ct = &c->contacts[i];
		int found = -1;
		for (int k = 0; k < ct->nsteps; k++) {
			if (!alerts_same_phone(ct->steps[k].phone, phone))
				continue;
			if (found < 0 ||
			    (ct->steps[k].via == VIA_SMS && ct->steps[found].via != VIA_SMS))
				found = k;
		}
		if (found >= 0) {
			if (step)
				*step = found;
			return i;
		}
	}
	return -1;
}

static void committed(void *ctx, int rc)
{
	(void)rc; /* a refused commit is sent from memory all the same */
	upstream_kick(ctx);
}

/* Answer the sender by SMS on the contact's step that has its number. */
static void answer(const struct alerts_deps *d, int contact, int step, const char *text,
                   int64_t wall_ms)
{
	if (d->cfg->contacts[contact].steps[step].via != VIA_SMS)
		return; /* a call-only number: nothing to text */
	if (upstream_queue_reply(d->up, contact, step, text, wall_ms) < 0) {
		log_err("alerts: cannot queue the answer to %s", d->cfg->contacts[contact].id);
		return;
	}
	if (store_commit_then(d->store, committed, d->up) < 0)
		log_err("alerts: cannot commit the answer to %s", d->cfg->contacts[contact].id);
}

/* Acknowledge id (0: the newest) as contact; answer in Vietnamese. */
static int ack_as(const struct alerts_deps *d, int contact, int step, int64_t id, const char *how,
                  int64_t mono_ms, int64_t wall_ms)
{
	const struct config_contact *ct = &d->cfg->contacts[contact];
	char why[256], text[320], detail[400];
	int64_t target = id ? id : panel_newest_alarm(d->panel);
	int rc;

	if (!target) {
		snprintf(detail, sizeof(detail), "%s from %s: no active alarm to acknowledge", how,
		         ct->id);
		store_event(d->store, wall_ms, ct->id, "reply", NULL, NULL, 0, 0, detail);
		log_notice("alerts: %s", detail);
		answer(d, contact, step, "Không có báo động nào đang hoạt động.", wall_ms);
		return 0;
	}
	rc = panel_ack(d->panel, target, ct->id, mono_ms, wall_ms, why, sizeof(why));
	if (d->after)
		d->after(d->arg);
	if (rc < 0) {
		snprintf(detail, sizeof(detail), "%s from %s: alarm %lld not acknowledged: %s", how,
		         ct->id, (long long)target, why);
		store_event(d->store, wall_ms, ct->id, "reply", NULL, NULL, 0, 0, detail);
		log_notice("alerts: %s", detail);
		snprintf(text, sizeof(text), "Báo động %lld: %s.", (long long)target,
		         rc == -ENOENT && strstr(why, "already") ? "đã được xác nhận trước đó"
		                                                 : "không còn hoạt động");
		answer(d, contact, step, text, wall_ms);
		return 0;
	}
	snprintf(detail, sizeof(detail), "%s from %s acknowledged alarm %lld", how, ct->id,
	         (long long)target);
	store_event(d->store, wall_ms, ct->id, "reply", NULL, NULL, 0, 0, detail);
	log_notice("alerts: %s", detail);
	snprintf(text, sizeof(text), "Đã nhận: báo động %lld được xác nhận bởi %s.",
	         (long long)target, ct->name ? ct->name : ct->id);
	answer(d, contact, step, text, wall_ms);
	return 1;
}

int alerts_on_reply(const struct alerts_deps *d, const char *from_phone, const char *text,
                    int64_t mono_ms, int64_t wall_ms)
{
	char detail[400];
	int step = 0;
	int c = alerts_find_contact(d->cfg, from_phone, &step);
	int64_t id = 0;

	if (c < 0) {
		/* Anyone can text the modem: a stranger changes nothing. */
		snprintf(detail, sizeof(detail),
		         "SMS from unknown number %.32s ignored: \"%.120s\"",
		         from_phone ? from_phone : "?", text ? text : "");
		store_event(d->store, wall_ms, "sms", "reply", NULL, NULL, 0, 0, detail);
		log_warn("alerts: %s", detail);
		return 0;
	}
	if (!d->cfg->contacts[c].ack_by_reply) {
		snprintf(detail, sizeof(detail),
		         "SMS from %s ignored: acknowledging by reply is off for it: \"%.120s\"",
		         d->cfg->contacts[c].id, text ? text : "");
		store_event(d->store, wall_ms, d->cfg->contacts[c].id, "reply", NULL, NULL, 0, 0,
		            detail);
		log_notice("alerts: %s", detail);
		return 0;
	}
	if (!alerts_parse_reply(text, &id)) {
		/* Not answered: an answer to an auto-responder could loop. */
		snprintf(detail, sizeof(detail),
		         "SMS from %s is not an acknowledgment (\"OK\", \"OK <alarm>\", \"1\", "
		         "\"NHẬN\"); ignored: \"%.120s\"",
		         d->cfg->contacts[c].id, text ? text : "");
		store_event(d->store, wall_ms, d->cfg->contacts[c].id, "reply", NULL, NULL, 0, 0,
		            detail);
		log_notice("alerts: %s", detail);
		return 0;
	}
	return ack_as(d, c, step, id, "SMS reply", mono_ms, wall_ms);
}

int alerts_on_call(const struct alerts_deps *d, const char *from_phone, int64_t mono_ms,
                   int64_t wall_ms)
{
	char detail[256];
	int step = 0;
	int c = alerts_find_contact(d->cfg, from_phone, &step);

	if (c < 0 || !d->cfg->contacts[c].ack_by_call) {
		snprintf(detail, sizeof(detail), "call from %.32s%s%s ignored%s",
		         from_phone ? from_phone : "?", c >= 0 ? " (" : "",
		         c >= 0 ? d->cfg->contacts[c].id : "",
		         c >= 0 ? "): acknowledging by call is off for it" : " (unknown number)");
		store_event(d->store, wall_ms, "call", "reply", NULL, NULL, 0, 0, detail);
		log_notice("alerts: %s", detail);
		return 0;
	}
	return ack_as(d, c, step, 0, "call", mono_ms, wall_ms);
}
