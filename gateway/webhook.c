/*
 * webhook.c: the webhook channel's curl-free half (webhook.h): presets,
 * step options and body rendering, which the config, --check and the
 * transport (webhook_http.c, the plugin safehouse-webhook.so) share.
 */
#include "webhook.h"

#include "config.h"
#include "log.h"
#include "../sensors/point.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEBHOOK_TIMEOUT_S 15 /* default whole-request limit */
#define CREDENTIALS_PREFIX "credentials:"

/* ---- presets and options ---- */

static const char *const preset_names[] = {"generic", "telegram", "zalo", "ntfy", NULL};

/* The base URL a preset builds on; "url" replaces it (a self-hosted ntfy,
 * a test server). generic and ntfy have none: their url is the target. */
static const char *const preset_base[] = {NULL, "https://api.telegram.org",
                                          "https://openapi.zalo.me", NULL};

static const char *const template_vars[] = {"text", "class", "zone_name", "zone",
                                            "site", "seq",   "alarm",     NULL};

static const char *const webhook_keys[] = {"preset", "token",     "chat_id",  "user_id", "template",
                                           "cafile", "timeout_s", "priority", NULL};

/* A string, or a whole number written as one (Telegram chat ids are
 * numbers, often negative). NULL when neither. */
static char *id_value(const cJSON *v)
{
	char buf[32];

	if (cJSON_IsString(v) && v->valuestring[0])
		return strdup(v->valuestring);
	if (cJSON_IsNumber(v) && v->valuedouble == (double)(long long)v->valuedouble) {
		snprintf(buf, sizeof(buf), "%lld", (long long)v->valuedouble);
		return strdup(buf);
	}
	return NULL;
}

/* Every ${name} in t must be known: a typo would send the literal text. */
static int template_check(const char *t, const cJSON *node, const struct cfg_report *r)
{
	const char *p = t;
	int bad = 0;

	while ((p = strstr(p, "${"))) {
		const char *e = strchr(p + 2, '}');
		char name[32];
		size_t n;

		if (!e) {
			r->report(r->ctx, 0, node, "template", "unclosed \"${\" in the template");
			return -1;
		}
		n = (size_t)(e - p - 2);
		snprintf(name, sizeof(name), "%.*s", (int)(n < sizeof(name) ? n : sizeof(name) - 1),
		         p + 2);
		int known = 0;
		for (int i = 0; template_vars[i]; i++)
			if (strlen(template_vars[i]) == n &&
			    strncmp(template_vars[i], p + 2, n) == 0)
				known = 1;
		if (!known) {
			const char *hint = sh_suggest(name, template_vars);
			if (hint)
				r->report(r->ctx, 0, node, "template",
				          "unknown variable ${%s}; did you mean ${%s}?", name,
				          hint);
			else
				r->report(
				    r->ctx, 0, node, "template",
				    "unknown variable ${%s}; the template knows ${text}, "
				    "${class}, ${zone_name}, ${zone}, ${site}, ${seq}, ${alarm}",
				    name);
			bad = 1;
		}
		p = e + 1;
	}
	return bad ? -1 : 0;
}

static void webhook_free_opts(struct config_step *st)
{
	struct webhook_opts *o = st->opts;

	if (!o)
		return;
	free(o->token);
	free(o->chat_id);
	free(o->user_id);
	free(o->template);
	free(o->cafile);
	free(o);
	st->opts = NULL;
}

/* A member that must be a non-empty string; reports otherwise. */
static const char *str_opt(const cJSON *obj, const char *key, const struct cfg_report *r, int *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		return NULL;
	if (!cJSON_IsString(v) || !v->valuestring[0]) {
		r->report(r->ctx, 0, v, key, "expected a non-empty string");
		*bad = 1;
		return NULL;
	}
	return v->valuestring;
}

static int int_opt(const cJSON *obj, const char *key, int min, int max, const char *unit,
                   const struct cfg_report *r, int *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble ||
	    v->valuedouble < min || v->valuedouble > max) {
		r->report(r->ctx, 0, v, key, "expected a whole number from %d to %d%s%s", min, max,
		          unit ? " " : "", unit ? unit : "");
		return -1;
	}
	*out = (int)v->valuedouble;
	return 0;
}

static int webhook_configure(struct config_step *st, const cJSON *obj, const struct cfg_report *r)
{
	const cJSON *pv = cJSON_GetObjectItemCaseSensitive(obj, "preset");
	const cJSON *v;
	struct webhook_opts *o = calloc(1, sizeof(*o));
	const char *s;
	int bad = 0, p = WEBHOOK_GENERIC;

	if (!o) {
		r->report(r->ctx, 0, obj, "", "out of memory");
		return -1;
	}
	o->timeout_s = WEBHOOK_TIMEOUT_S;
	o->priority = 5;
	st->opts = o;

	if (pv) {
		p = cJSON_IsString(pv) ? -1 : -2;
		for (int i = 0; p == -1 && preset_names[i]; i++)
			if (strcmp(preset_names[i], pv->valuestring) == 0)
				p = i;
		if (p == -2) {
			r->report(r->ctx, 0, pv, "preset", "expected a string: %s",
			          "one of generic, telegram, zalo, ntfy");
			return -1;
		}
		if (p < 0) {
			const char *hint = sh_suggest(pv->valuestring, preset_names);
			if (hint)
				r->report(r->ctx, 0, pv, "preset",
				          "unknown preset \"%.40s\"; did you mean \"%s\"?",
				          pv->valuestring, hint);
			else
				r->report(
				    r->ctx, 0, pv, "preset",
				    "unknown preset \"%.40s\"; expected one of generic, telegram, "
				    "zalo, ntfy",
				    pv->valuestring);
			/* The other keys depend on the preset. */
			return -1;
		}
	}
	o->preset = (enum webhook_preset)p;

	/* url: generic and ntfy post to it; telegram and zalo build theirs. A
	 * bad url was reported already (by the common keys). */
	if ((o->preset == WEBHOOK_GENERIC || o->preset == WEBHOOK_NTFY) && !st->url &&
	    !cJSON_GetObjectItemCaseSensitive(obj, "url")) {
		r->report(r->ctx, 0, obj, "",
		          o->preset == WEBHOOK_NTFY
		              ? "missing key \"url\": an ntfy step needs its topic URL, e.g. "
		                "\"https://ntfy.sh/my-house-alarms\""
		              : "missing key \"url\": a webhook step needs its URL");
		bad = 1;
	}

	s = str_opt(obj, "token", r, &bad);
	if (s && strncmp(s, CREDENTIALS_PREFIX, strlen(CREDENTIALS_PREFIX)) == 0 &&
	    !s[strlen(CREDENTIALS_PREFIX)]) {
		r->report(
		    r->ctx, 0, cJSON_GetObjectItemCaseSensitive(obj, "token"), "token",
		    "\"credentials:\" needs the name of a secret, e.g. \"credentials:telegram\"");
		bad = 1;
	} else if (s) {
		o->token = strdup(s);
	}
	if (!cJSON_GetObjectItemCaseSensitive(obj, "token") &&
	    (o->preset == WEBHOOK_TELEGRAM || o->preset == WEBHOOK_ZALO)) {
		r->report(
		    r->ctx, 0, obj, "",
		    o->preset == WEBHOOK_TELEGRAM
		        ? "missing key \"token\": the Telegram bot's token (from @BotFather), "
		          "or \"credentials:NAME\""
		        : "missing key \"token\": the Zalo OA access token, or "
		          "\"credentials:NAME\"");
		bad = 1;
	}

	v = cJSON_GetObjectItemCaseSensitive(obj, "chat_id");
	if (v) {
		o->chat_id = id_value(v);
		if (!o->chat_id) {
			r->report(r->ctx, 0, v, "chat_id",
			          "expected a chat id: a number or a string");
			bad = 1;
		} else if (o->preset != WEBHOOK_TELEGRAM) {
			r->report(r->ctx, 1, v, "chat_id",
			          "ignored: only the telegram preset uses it");
		}
	} else if (o->preset == WEBHOOK_TELEGRAM) {
		r->report(r->ctx, 0, obj, "",
		          "missing key \"chat_id\": the Telegram chat to write to (send the bot a "
		          "message, then read it from getUpdates)");
		bad = 1;
	}

	v = cJSON_GetObjectItemCaseSensitive(obj, "user_id");
	if (v) {
		o->user_id = id_value(v);
		if (!o->user_id) {
			r->report(r->ctx, 0, v, "user_id", "expected a Zalo user id: a string");
			bad = 1;
		} else if (o->preset != WEBHOOK_ZALO) {
			r->report(r->ctx, 1, v, "user_id", "ignored: only the zalo preset uses it");
		}
	} else if (o->preset == WEBHOOK_ZALO) {
		r->report(
		    r->ctx, 0, obj, "",
		    "missing key \"user_id\": the Zalo user (who follows the OA) to write to");
		bad = 1;
	}

	s = str_opt(obj, "template", r, &bad);
	if (s) {
		if (o->preset != WEBHOOK_GENERIC)
			r->report(r->ctx, 1, cJSON_GetObjectItemCaseSensitive(obj, "template"),
			          "template", "ignored: only the generic preset uses a template");
		else if (template_check(s, cJSON_GetObjectItemCaseSensitive(obj, "template"), r) <
		         0)
			bad = 1;
		else
			o->template = strdup(s);
	}

	s = str_opt(obj, "cafile", r, &bad);
	if (s) {
		v = cJSON_GetObjectItemCaseSensitive(obj, "cafile");
		if (s[0] != '/') {
			r->report(r->ctx, 0, v, "cafile", "must be an absolute path");
			bad = 1;
		} else if (access(s, R_OK) < 0) {
			r->report(r->ctx, 0, v, "cafile", "cannot read %s: %s", s, strerror(errno));
			bad = 1;
		} else {
			o->cafile = strdup(s);
		}
	}
	if (int_opt(obj, "timeout_s", 1, 120, "seconds", r, &o->timeout_s) < 0)
		bad = 1;
	if (int_opt(obj, "priority", 1, 5, NULL, r, &o->priority) < 0)
		bad = 1;
	else if (cJSON_GetObjectItemCaseSensitive(obj, "priority") && o->preset != WEBHOOK_NTFY)
		r->report(r->ctx, 1, cJSON_GetObjectItemCaseSensitive(obj, "priority"), "priority",
		          "ignored: only the ntfy preset uses it");
	return bad ? -1 : 0;
}

const struct channel_conf webhook_conf = {.via = VIA_WEBHOOK,
                                          .keys = webhook_keys,
                                          .configure = webhook_configure,
                                          .free_opts = webhook_free_opts};

/* ---- rendering ---- */

void webhook_buf_add(struct webhook_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->s, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* s as the inside of a JSON string (no quotes). */
static void sb_json(struct webhook_buf *b, const char *s)
{
	cJSON *j = cJSON_CreateString(s ? s : "");
	char *p = j ? cJSON_PrintUnformatted(j) : NULL;

	if (p && strlen(p) >= 2)
		webhook_buf_add(b, p + 1, strlen(p) - 2);
	else
		b->oom = 1;
	free(p);
	cJSON_Delete(j);
}

void webhook_facts(const struct config *c, const struct channel_msg *m, struct webhook_facts *f)
{
	cJSON *p = m->payload ? cJSON_Parse(m->payload) : NULL;
	const cJSON *cl = cJSON_GetObjectItemCaseSensitive(p, "class");
	int z = m->zone ? config_zone_index(c, m->zone) : -1;

	memset(f, 0, sizeof(*f));
	snprintf(f->cls, sizeof(f->cls), "%s", cJSON_IsString(cl) ? cl->valuestring : "");
	cJSON_Delete(p);
	f->zone_name = z >= 0 ? c->zones[z].name : m->zone ? m->zone : "";
	f->site = c->site.name ? c->site.name : c->site.id ? c->site.id : "";
	if (z >= 0 && c->zones[z].camera.snapshot_url) {
		f->camera = &c->zones[z].camera;
		f->has_camera = 1;
	}
}

static void sb_template(struct webhook_buf *b, const char *t, const struct channel_msg *m,
                        const struct webhook_facts *f)
{
	char num[32];

	while (*t) {
		const char *p = strstr(t, "${"), *e;
		if (!p || !(e = strchr(p, '}'))) {
			webhook_buf_add(b, t, strlen(t));
			return;
		}
		webhook_buf_add(b, t, (size_t)(p - t));
		size_t n = (size_t)(e - p - 2);
		const char *name = p + 2, *val = "";
#define IS(v) (n == strlen(v) && strncmp(name, v, n) == 0)
		if (IS("text"))
			val = m->text;
		else if (IS("class"))
			val = f->cls;
		else if (IS("zone_name"))
			val = f->zone_name;
		else if (IS("zone"))
			val = m->zone ? m->zone : "";
		else if (IS("site"))
			val = f->site;
		else if (IS("seq"))
			val = (snprintf(num, sizeof(num), "%" PRId64, m->seq), num);
		else if (IS("alarm"))
			val = (snprintf(num, sizeof(num), "%" PRId64, m->alarm), num);
#undef IS
		sb_json(b, val);
		t = e + 1;
	}
}

/* base (no trailing '/') + path. */
static char *url_join(const char *base, const char *path)
{
	size_t n = strlen(base);
	char *out = NULL;

	while (n && base[n - 1] == '/')
		n--;
	if (asprintf(&out, "%.*s%s", (int)n, base, path) < 0)
		return NULL;
	return out;
}

/* The token of a step: the literal, or the named credential. */
const char *webhook_token(const struct config *c, const struct webhook_opts *o, char *err,
                          size_t errlen)
{
	const char *t;

	if (!o->token)
		return NULL;
	if (strncmp(o->token, CREDENTIALS_PREFIX, strlen(CREDENTIALS_PREFIX)) != 0)
		return o->token;
	t = config_credential(c, o->token + strlen(CREDENTIALS_PREFIX));
	if (!t)
		snprintf(err, errlen,
		         "token \"%s\": credentials file not configured or has no such name",
		         o->token);
	return t;
}

int webhook_render(const struct config *c, const struct channel_msg *m, char **url, char **body,
                   const char **content_type, char *err, size_t errlen)
{
	const struct webhook_opts *o = m->step ? m->step->opts : NULL;
	const char *base, *token = NULL;
	struct webhook_facts f;
	struct webhook_buf b = {0};
	char path[64];

	*url = *body = NULL;
	*content_type = "application/json";
	err[0] = '\0';
	if (!o) {
		snprintf(err, errlen, "not a webhook step");
		return -1;
	}
	if (o->token && !(token = webhook_token(c, o, err, errlen)))
		return -1;
	webhook_facts(c, m, &f);
	base = m->step->url ? m->step->url : preset_base[o->preset];
	switch (o->preset) {
	case WEBHOOK_TELEGRAM:
		snprintf(path, sizeof(path), "/bot");
		*url = url_join(base, path);
		if (*url) {
			char *u = NULL;
			if (asprintf(&u, "%s%s/sendMessage", *url, token) < 0)
				u = NULL;
			free(*url);
			*url = u;
		}
		webhook_buf_add(&b, "{\"chat_id\":\"", 12);
		sb_json(&b, o->chat_id);
		webhook_buf_add(&b, "\",\"text\":\"", 10);
		sb_json(&b, m->text);
		webhook_buf_add(&b, "\"}", 2);
		break;
	case WEBHOOK_ZALO:
		*url = url_join(base, "/v3.0/oa/message/cs");
		webhook_buf_add(&b, "{\"recipient\":{\"user_id\":\"", 25);
		sb_json(&b, o->user_id);
		webhook_buf_add(&b, "\"},\"message\":{\"text\":\"", 22);
		/* Zalo cuts a text message at 2000 characters. */
		sb_json(&b, m->text);
		webhook_buf_add(&b, "\"}}", 3);
		break;
	case WEBHOOK_NTFY:
		*url = strdup(base);
		*content_type = "text/plain; charset=utf-8";
		webhook_buf_add(&b, m->text ? m->text : "", m->text ? strlen(m->text) : 0);
		break;
	case WEBHOOK_GENERIC:
		*url = strdup(base);
		if (o->template) {
			sb_template(&b, o->template, m, &f);
		} else if (m->payload) {
			webhook_buf_add(&b, m->payload, strlen(m->payload));
		} else {
			webhook_buf_add(&b, "{\"text\":\"", 9);
			sb_json(&b, m->text);
			webhook_buf_add(&b, "\"}", 2);
		}
		break;
	}
	if (!*url || b.oom || !b.s) {
		free(*url);
		free(b.s);
		*url = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*body = b.s;
	return 0;
}
