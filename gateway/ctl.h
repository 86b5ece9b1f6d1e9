/*
 * ctl.h: the control socket: a Unix stream socket speaking JSON lines.
 *
 * One request per line ({"cmd":"status"}), one reply per line
 * ({"ok":true,...} or {"ok":false,"error":"..."}). File permissions (mode
 * 0660, group from the config) decide who may connect.
 */
#ifndef SH_CTL_H
#define SH_CTL_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct ctl;
struct cJSON;

/* Handle one parsed request; return the reply object (ctl frees it). */
typedef struct cJSON *(*ctl_handler_fn)(void *ctx, const struct cJSON *req);

/* A handler that cannot answer at once (it asked a bus worker) calls
 * ctl_defer() for a token and returns CTL_DEFERRED; the reply comes later
 * through ctl_reply(). The client gets nothing else meanwhile. */
extern struct cJSON *const CTL_DEFERRED;
uint64_t ctl_defer(struct ctl *c);
/* Send a deferred reply (takes ownership of r). A client that went away is
 * simply not answered. */
void ctl_reply(struct ctl *c, uint64_t token, struct cJSON *r);

/* Listen on path. Refuses to take over a socket another daemon still
 * answers on. On failure returns NULL with a reason in err. */
struct ctl *ctl_new(struct loop *l, const char *path, const char *group, ctl_handler_fn fn,
                    void *ctx, char *err, size_t errlen);
/* Close a client that has neither completed a request nor been answered
 * for this long (default 60 s); a client waiting for a deferred reply is
 * never idle. With every slot taken, a new client closes the longest idle
 * one; it is refused only when every slot is waiting for a reply. */
void ctl_set_idle_timeout(struct ctl *c, int seconds);

/* Close every connection and remove the socket file. */
void ctl_free(struct ctl *c);

/* Parse one request line (without its newline): a JSON object with a
 * string "cmd". Returns the request (the caller frees it with cJSON_Delete)
 * or NULL with *err set to the message the client gets (static). Needs no
 * socket, so the fuzz target calls it directly. */
struct cJSON *ctl_parse_request(const char *line, size_t len, const char **err);

#endif
