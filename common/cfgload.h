/*
 * cfgload.h: the core that the config loaders share (the gateway's,
 * gateway/config.c, and the station's, station/sconfig.c).
 *
 * Both loaders have the same contract: cJSON parses, jsonpos says where
 * each value and key starts, every check reports and carries on, and the
 * diagnostics come out sorted by position as
 *
 *     FILE:LINE:COL: json.path: message
 *
 * so that a --check lists every mistake of a file in one run. The typed
 * member helpers below are that contract's small print: which message a
 * wrong type, a missing key, an unknown key or an out-of-range number
 * gets. They live here once so that the two daemons say the same thing
 * about the same mistake (tests compare the texts byte for byte).
 *
 * Unlike the rest of common/, this module builds on gateway/jsonpos.h (the
 * positions) and sensors/point.h (sh_suggest, for "did you mean"): it is
 * the loaders' core, and both loaders already depend on those.
 *
 * Ownership: a struct cfgl is the caller's (embedded in its loader, zero-
 * initialised, then name/dir/mode set). It borrows name and dir; pos and
 * diags are its own, released by cfgl_flush() (diags) and cfgl_free()
 * (pos). Strings handed out through char **out are malloc'ed and the
 * caller's to free; const char **out and const cJSON * results point into
 * the caller's cJSON tree and live as long as it does.
 *
 * Reporting: severity 0 is an error, 1 a warning (diag.h). Every report is
 * prefixed with the current JSON path (cfgl_path_push_key() and friends);
 * a push returns the old length for the matching cfgl_path_pop().
 */
#ifndef SH_CFGLOAD_H
#define SH_CFGLOAD_H

#include "common/diag.h"
#include "gateway/jsonpos.h"

#include <stdarg.h>
#include <stddef.h>

struct cJSON;

#define CFGL_PATH_MAX 512 /* a JSON path in a message */
#define CFGL_QUOTE_MAX 64 /* bytes of a user's value quoted in a message */
/* A buffer for cfgl_quote(): every byte may become \xNN, plus quotes,
 * "..." and the rest of a cut UTF-8 sequence. */
#define CFGL_QUOTE_BUF (CFGL_QUOTE_MAX * 4 + 16)
/* The longest key list cfgl_check_keys() takes; longer lists are a
 * programming error and their extra keys read as unknown. */
#define CFGL_KEYS_MAX 32

struct cfgl {
	const char *name; /* the file, as the user named it (borrowed) */
	const char *dir;  /* absolute, for relative paths (borrowed) */
	int mode;         /* the file's permission bits; -1: not a file */
	int oom;          /* something was lost for want of memory: fail */
	struct jsonpos pos;
	struct diag_list diags; /* counts the errors too */
	char path[CFGL_PATH_MAX];
	size_t pathlen;
};

/* ---- small helpers ---- */

/* The index of s in the NULL-terminated names, or -1 (also for s NULL). */
int cfgl_index_of(const char *const *names, const char *s);
/* strdup() that sets cl->oom on failure; NULL stays NULL. Caller frees. */
char *cfgl_sdup(struct cfgl *cl, const char *s);
/* s in double quotes, escaped and cut to fit one line, written into buf
 * (CFGL_QUOTE_BUF bytes); returns buf. */
const char *cfgl_quote(char *buf, const char *s);
/* "a, b, c" of the NULL-terminated names into buf; returns buf. */
const char *cfgl_join_names(char *buf, size_t size, const char *const *names);
/* 1 when s is a plain non-empty word: letters, digits, '_' and '-'. */
int cfgl_is_word(const char *s);
/* 1 when s is HOST:PORT or [IPv6]:PORT with a port of 1 to 65535. */
int cfgl_listen_ok(const char *s);
/* The member key of obj (NULL obj: NULL). */
const struct cJSON *cfgl_member(const struct cJSON *obj, const char *key);
/* "a string", "a number", ... for "found %s" messages. */
const char *cfgl_type_name(const struct cJSON *v);
/* rel made absolute against dir (absolute rel: copied). Caller frees;
 * NULL (with cl->oom) when out of memory. */
char *cfgl_join_path(struct cfgl *cl, const char *dir, const char *rel);

/* ---- JSON paths ---- */

void cfgl_path_append(struct cfgl *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t cfgl_path_push_key(struct cfgl *cl, const char *key);
size_t cfgl_path_push_index(struct cfgl *cl, int i);
void cfgl_path_pop(struct cfgl *cl, size_t old);

/* ---- diagnostics ---- */

void cfgl_vreport(struct cfgl *cl, int severity, int line, int col, const char *fmt, va_list ap);
/* At a position in the text (line 0: the file as a whole). */
void cfgl_report_pos(struct cfgl *cl, int severity, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* At a node: where its value starts, or its key when at_key is set. */
void cfgl_report(struct cfgl *cl, int severity, const struct cJSON *at, int at_key, const char *fmt,
                 ...) __attribute__((format(printf, 5, 6)));
/* About member key of obj, with key added to the path. */
void cfgl_report_key(struct cfgl *cl, int severity, const struct cJSON *obj, const char *key,
                     int at_key, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Hand the diagnostics to fn sorted (NULL fn: drop them) and free them;
 * then, if memory ran out, count one more error and say so. */
void cfgl_flush(struct cfgl *cl, diag_fn fn, void *ctx);
/* Free what cl owns besides the diagnostics (the position index). */
void cfgl_free(struct cfgl *cl);

/* ---- loading ---- */

/* The whole file at path into *buf (malloc'ed, NUL-terminated, the
 * caller's to free; NULL on error) and *len. Reading stops one byte past
 * max, so that the caller can say the file is too large. *mode gets the
 * permission bits of what was opened (a symlink's target), or -1 when it
 * is not a regular file. Returns 0 or -errno (-EISDIR for a directory). */
int cfgl_read_file(const char *path, size_t max, char **buf, size_t *len, int *mode);
/* The directory of path ("." when it has none). Caller frees; NULL when
 * out of memory. */
char *cfgl_file_dir(const char *path);
/* dir made absolute against the current directory. Caller frees; NULL
 * (errno set) when the current directory or memory is not there. */
char *cfgl_absolute_dir(const char *dir);
/* Parse text (len bytes, NUL-terminated at len) into *root (the caller's
 * to cJSON_Delete(); NULL on error) and index its positions into cl->pos.
 * Over max bytes, a NUL byte or a syntax error is reported; size_hint (may
 * be NULL) follows "too large: over N MiB", and near set quotes the text
 * where a syntax error stops. Returns 0, or -1 after reporting. */
int cfgl_parse(struct cfgl *cl, const char *text, size_t len, size_t max, const char *size_hint,
               int near, struct cJSON **root);

/* ---- typed members ----
 *
 * required: 0 optional, 1 required (a missing required key is reported
 * at obj). Unless said otherwise they return 0, or -1 after reporting;
 * *out keeps its value (the default) when an optional key is absent. */

/* "missing required key \"KEY\"", with ": why" when why is given. */
void cfgl_missing(struct cfgl *cl, const struct cJSON *obj, const char *key, const char *why);
/* "expected WANT, found ..." at v, with key (if any) added to the path. */
void cfgl_bad_type(struct cfgl *cl, const struct cJSON *v, const char *key, const char *want);
/* Every member of obj must be one of keys (at most CFGL_KEYS_MAX), once;
 * unknown and repeated keys are reported at the key. */
void cfgl_check_keys(struct cfgl *cl, const struct cJSON *obj, const char *const *keys);
/* A non-empty string: 1 with *out into the tree, 0 absent, -1 after
 * reporting. */
int cfgl_str_member(struct cfgl *cl, const struct cJSON *obj, const char *key, int required,
                    const char **out);
/* A string of at most max bytes (0: any) copied into *out, or a copy of
 * def (may be NULL) when absent; *out is NULL on error. */
int cfgl_get_str(struct cfgl *cl, const struct cJSON *obj, const char *key, int required,
                 const char *def, size_t max, char **out);
/* A whole number in min..max (max INT_MAX: "at least min"); unit (may be
 * NULL) follows the range in messages. */
int cfgl_get_int(struct cfgl *cl, const struct cJSON *obj, const char *key, int required, long min,
                 long max, const char *unit, int *out);
int cfgl_get_double(struct cfgl *cl, const struct cJSON *obj, const char *key, int required,
                    double min, double max, double *out);
int cfgl_get_bool(struct cfgl *cl, const struct cJSON *obj, const char *key, int *out);
/* One word of names, as its index; what names the list in messages
 * ("zone kind"). */
int cfgl_get_enum(struct cfgl *cl, const struct cJSON *obj, const char *key, int required,
                  const char *const *names, const char *what, int *out);
/* An object or array member: NULL when absent (reported when required,
 * with why for objects) or of another type (reported). */
const struct cJSON *cfgl_get_obj(struct cfgl *cl, const struct cJSON *obj, const char *key,
                                 int required, const char *why);
const struct cJSON *cfgl_get_arr(struct cfgl *cl, const struct cJSON *obj, const char *key,
                                 int required);
/* The required "id" of obj: a word shorter than max bytes, copied into
 * *out (NULL on error); why (may be NULL) ends the message, after ", ". */
int cfgl_get_id(struct cfgl *cl, const struct cJSON *obj, size_t max, const char *why, char **out);

/* ---- broker lists ---- */

/* The most brokers a "hosts" list names (mqttc's MQTTC_ADDRS_MAX). */
#define CFGL_HOSTS_MAX 8

/* One broker of a "hosts" list: host without brackets, port resolved. */
struct cfgl_addr {
	char *host;
	int port;
};

/* "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address into
 * host (size bytes) and *port (def_port when the string gives none).
 * Returns 0, or -1 with *why (static text) saying what is wrong. */
int cfgl_split_hostport(const char *s, int def_port, char *host, size_t size, int *port,
                        const char **why);
/* The member "hosts" of obj: 1 to CFGL_HOSTS_MAX strings as above, no
 * broker twice, and not together with "host" (each mistake reported where
 * it is, all in one pass). Returns the count with *out malloc'ed (free it
 * with cfgl_addrs_free), 0 when obj has no "hosts", -1 after reporting. */
int cfgl_get_hosts(struct cfgl *cl, const struct cJSON *obj, int def_port, struct cfgl_addr **out);
void cfgl_addrs_free(struct cfgl_addr *a, int n);

#endif
