/*
 * ctl.c: control socket server.
 */
#include "ctl.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

/* Generous: a leaking script must not lock the panel's own commands out,
 * and an idle client is closed to make room for a new one anyway. */
#define CTL_MAX_CLIENTS 128
#define CTL_IDLE_DEFAULT_MS 60000
/* Evictions and refusals are logged at most this often: a flood of
 * connections must not flood syslog. */
#define CTL_EVICT_LOG_MS 60000
#define CTL_MAX_LINE 65536
/* A client that stops reading is cut off once this much is waiting for it,
 * instead of ever blocking the loop that sounds the sirens. */
#define CTL_MAX_PENDING (1024 * 1024)

struct client {
	int fd;
	uint32_t gen; /* which connection this slot holds, for deferred replies */
	int waiting;  /* a deferred reply is owed */
	/* When it connected or last completed a request (or was answered):
	 * bytes without a newline do not count, so a client trickling half a
	 * line (slowloris) is as idle as a silent one. */
	int64_t active_ms;
	char *in;
	size_t inlen;
	char *out;
	size_t outlen, outcap;
};

struct ctl {
	struct loop *loop;
	int fd;
	char *path;
	ctl_handler_fn fn;
	void *ctx;
	struct client clients[CTL_MAX_CLIENTS];
	struct client *current; /* the client whose request is being handled */
	int failed;             /* a reply queued inside the handler did not fit */
	uint32_t next_gen;
	int nclients;
	int64_t idle_ms;
	int sweep_timer;
	int64_t evict_logged_ms, refuse_logged_ms, accept_logged_ms;
	unsigned evicted; /* since the last eviction message */
};

static cJSON deferred_marker;
cJSON *const CTL_DEFERRED = &deferred_marker;

static void client_close(struct ctl *c, struct client *cl)
{
	loop_fd_del(c->loop, cl->fd);
	close(cl->fd);
	free(cl->in);
	free(cl->out);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
	c->nclients--;
}

/* Queue a reply line. Returns -1 when the client must be dropped. */
static int queue_reply(struct client *cl, cJSON *r)
{
	char *text = cJSON_PrintUnformatted(r);
	size_t len;
	int rc = -1;
	if (!text)
		return -1;
	len = strlen(text);
	if (cl->outlen + len + 1 > CTL_MAX_PENDING)
		goto out;
	if (cl->outlen + len + 1 > cl->outcap) {
		size_t nc = cl->outcap ? cl->outcap : 4096;
		char *nb;
		while (nc < cl->outlen + len + 1)
			nc *= 2;
		nb = realloc(cl->out, nc);
		if (!nb)
			goto out;
		cl->out = nb;
		cl->outcap = nc;
	}
	memcpy(cl->out + cl->outlen, text, len);
	cl->out[cl->outlen + len] = '\n';
	cl->outlen += len + 1;
	rc = 0;
out:
	free(text);
	return rc;
}

/* Write what the socket takes now. Returns -1 on a dead connection. */
static int flush_out(struct client *cl)
{
	while (cl->outlen > 0) {
		ssize_t w = send(cl->fd, cl->out, cl->outlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -1;
		memmove(cl->out, cl->out + w, cl->outlen - (size_t)w);
		cl->outlen -= (size_t)w;
	}
	return 0;
}

static cJSON *error_reply(const char *msg)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "ok", 0);
	cJSON_AddStringToObject(r, "error", msg);
	return r;
}

cJSON *ctl_parse_request(const char *line, size_t len, const char **err)
{
	cJSON *req = cJSON_ParseWithLength(line, len);
	if (!req) {
		*err = "request is not valid JSON";
		return NULL;
	}
	if (!cJSON_IsObject(req) || !cJSON_IsString(cJSON_GetObjectItem(req, "cmd"))) {
		cJSON_Delete(req);
		*err = "request must be a JSON object with a string \"cmd\"";
		return NULL;
	}
	return req;
}

static int handle_line(struct ctl *c, struct client *cl, const char *line, size_t len)
{
	const char *err = NULL;
	cJSON *req = ctl_parse_request(line, len, &err), *r;
	int rc;
	if (!req)
		r = error_reply(err);
	else {
		c->current = cl;
		r = c->fn(c->ctx, req);
		c->current = NULL;
	}
	if (r == CTL_DEFERRED) {
		cJSON_Delete(req);
		rc = c->failed ? -1 : 0;
		c->failed = 0;
		return rc;
	}
	if (!r)
		r = error_reply("internal error");
	rc = queue_reply(cl, r);
	cJSON_Delete(r);
	cJSON_Delete(req);
	return rc;
}

/* Answer complete lines, one at a time, while the client keeps up: a client
 * with replies still unread gets no new ones (its requests wait in the
 * input buffer), so a flood costs the loop nothing. */
static int process(struct ctl *c, struct client *cl)
{
	for (;;) {
		char *nl;
		size_t ll;
		if (cl->outlen > 0 && flush_out(cl) < 0)
			return -1;
		if (cl->outlen > 0 || cl->waiting)
			break;
		nl = cl->in ? memchr(cl->in, '\n', cl->inlen) : NULL;
		if (!nl)
			break;
		ll = (size_t)(nl - cl->in);
		if (ll > 0 && handle_line(c, cl, cl->in, ll) < 0)
			return -1;
		cl->active_ms = loop_mono_ms();
		memmove(cl->in, nl + 1, cl->inlen - ll - 1);
		cl->inlen -= ll + 1;
	}
	loop_fd_events(c->loop, cl->fd, (short)(cl->outlen ? POLLIN | POLLOUT : POLLIN));
	return 0;
}

static void on_client(void *arg, int fd, short revents)
{
	struct ctl *c = arg;
	struct client *cl = NULL;
	char tmp[4096];
	ssize_t n;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd == fd)
			cl = &c->clients[i];
	if (!cl)
		return;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c, cl);
			return;
		}
		if (cl->inlen + (size_t)n > CTL_MAX_LINE + CTL_MAX_PENDING) {
			log_warn(
			    "ctl: a control client sends more than it reads; disconnecting it");
			client_close(c, cl);
			return;
		}
		char *nb = realloc(cl->in, cl->inlen + (size_t)n + 1);
		if (!nb) {
			client_close(c, cl);
			return;
		}
		cl->in = nb;
		memcpy(cl->in + cl->inlen, tmp, (size_t)n);
		cl->inlen += (size_t)n;
		if (cl->inlen > CTL_MAX_LINE && !memchr(cl->in, '\n', cl->inlen)) {
			cJSON *r = error_reply("request line too long");
			queue_reply(cl, r);
			cJSON_Delete(r);
			flush_out(cl);
			client_close(c, cl);
			return;
		}
	}
	if (process(c, cl) < 0)
		client_close(c, cl);
}

/* An idle client is one that owes nothing and is owed nothing: a client
 * waiting for a deferred reply (a Modbus scan) is busy however long it
 * waits. */
static int client_idle_since(const struct client *cl, int64_t *since)
{
	if (cl->fd < 0 || cl->waiting)
		return 0;
	*since = cl->active_ms;
	return 1;
}

static void sweep(void *arg);

/* Whether a message logged at *last may be logged again now. */
static int log_due(int64_t *last)
{
	int64_t now = loop_mono_ms();

	if (*last && now - *last < CTL_EVICT_LOG_MS)
		return 0;
	*last = now;
	return 1;
}

static void arm_sweep(struct ctl *c)
{
	int64_t every = c->idle_ms / 4;

	if (c->sweep_timer > 0 || c->nclients == 0)
		return;
	/* A quarter of the timeout: an idle client goes within 125% of it. */
	if (every < 250)
		every = 250;
	if (every > 5000)
		every = 5000;
	c->sweep_timer = loop_timer_add(c->loop, every, sweep, c);
	if (c->sweep_timer < 0)
		c->sweep_timer = 0;
}

static void sweep(void *arg)
{
	struct ctl *c = arg;
	int64_t now = loop_mono_ms(), since;
	int closed = 0;

	c->sweep_timer = 0;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		struct client *cl = &c->clients[i];
		if (client_idle_since(cl, &since) && now - since >= c->idle_ms) {
			client_close(c, cl);
			closed++;
		}
	}
	if (closed)
		log_debug("ctl: closed %d idle control connection(s)", closed);
	arm_sweep(c);
}

/* A free slot, or the one of the longest idle client, closed to make room:
 * a new client is never refused because of idle ones. NULL when every
 * client is waiting for a reply. */
static struct client *take_slot(struct ctl *c)
{
	struct client *victim = NULL;
	int64_t oldest = 0, since;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd < 0)
			return &c->clients[i];
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (client_idle_since(&c->clients[i], &since) && (!victim || since < oldest)) {
			victim = &c->clients[i];
			oldest = since;
		}
	if (!victim)
		return NULL;
	client_close(c, victim);
	c->evicted++;
	if (log_due(&c->evict_logged_ms)) {
		log_warn("ctl: all %d control connections in use; closed the longest idle one "
		         "(%u since the last such message): is a script leaking connections?",
		         CTL_MAX_CLIENTS, c->evicted);
		c->evicted = 0;
	}
	return victim;
}

static void refuse(int fd)
{
	static const char line[] = "{\"ok\":false,\"error\":\"too many control connections, "
	                           "all waiting for a reply; try again\"}\n";
	/* A fresh socket's buffer is empty: the line fits, or nothing does. */
	if (send(fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("ctl: refusing a control connection: %s", strerror(errno));
	close(fd);
}

static void on_accept(void *arg, int fd, short revents)
{
	struct ctl *c = arg;
	(void)revents;

	/* Take every pending connection: one per wakeup lets a burst fill the
	 * backlog and block the clients behind it. */
	for (;;) {
		struct client *cl;
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0 && errno == EINTR)
			continue;
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED &&
			    log_due(&c->accept_logged_ms))
				log_warn("ctl: accept: %s", strerror(errno));
			if (errno == ECONNABORTED)
				continue;
			break;
		}
		cl = take_slot(c);
		if (!cl) {
			if (log_due(&c->refuse_logged_ms))
				log_warn("ctl: every control connection is waiting for a reply; "
				         "refusing new ones");
			refuse(cfd);
			continue;
		}
		cl->fd = cfd;
		cl->gen = ++c->next_gen;
		cl->active_ms = loop_mono_ms();
		c->nclients++;
		loop_fd_add(c->loop, cfd, POLLIN, on_client, c);
	}
	arm_sweep(c);
}

void ctl_set_idle_timeout(struct ctl *c, int seconds)
{
	if (!c || seconds <= 0)
		return;
	c->idle_ms = (int64_t)seconds * 1000;
	/* The sweep's period follows the timeout. */
	loop_timer_cancel(c->loop, c->sweep_timer);
	c->sweep_timer = 0;
	arm_sweep(c);
}

uint64_t ctl_defer(struct ctl *c)
{
	struct client *cl = c->current;
	if (!cl)
		return 0;
	cl->waiting = 1;
	return ((uint64_t)(cl - c->clients) << 32) | cl->gen;
}

void ctl_reply(struct ctl *c, uint64_t token, cJSON *r)
{
	int slot = (int)(token >> 32);
	struct client *cl;
	if (!c || slot < 0 || slot >= CTL_MAX_CLIENTS)
		goto out;
	cl = &c->clients[slot];
	if (cl->fd < 0 || cl->gen != (uint32_t)token || !cl->waiting)
		goto out;
	cl->waiting = 0;
	cl->active_ms = loop_mono_ms();
	/* Answered inside the handler that deferred it (a request refused
	 * before it reached a worker): the line is still in the input buffer
	 * and process() is up the stack, so only queue; process() goes on. */
	if (c->current == cl) {
		if (queue_reply(cl, r) < 0)
			c->failed = 1;
		goto out;
	}
	if (queue_reply(cl, r) < 0 || process(c, cl) < 0)
		client_close(c, cl);
out:
	cJSON_Delete(r);
}

struct ctl *ctl_new(struct loop *l, const char *path, const char *group, ctl_handler_fn fn,
                    void *ctx, char *err, size_t errlen)
{
	struct ctl *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;

	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = -1;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		c->clients[i].fd = -1;
	c->loop = l;
	c->idle_ms = CTL_IDLE_DEFAULT_MS;
	c->fn = fn;
	c->ctx = ctx;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long (max %zu): %s",
		         sizeof(sa.sun_path) - 1, path);
		goto fail;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (lstat(path, &st) == 0) {
		int probe;
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket", path);
			goto fail;
		}
		/* A live daemon answers; a stale file from a crash does not. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			snprintf(err, errlen, "another safehoused is already listening on %s",
			         path);
			goto fail;
		}
		if (probe >= 0)
			close(probe);
		unlink(path);
	}
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		goto fail;
	}
	c->path = strdup(path);
	if (chmod(path, 0660) < 0)
		log_warn("ctl: chmod %s: %s", path, strerror(errno));
	if (group) {
		struct group *g = getgrnam(group);
		if (!g)
			log_warn("ctl: group \"%s\" does not exist; socket keeps its default group",
			         group);
		else if (chown(path, (uid_t)-1, g->gr_gid) < 0)
			log_warn("ctl: chown %s: %s", path, strerror(errno));
	}
	if (listen(c->fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	loop_fd_add(l, c->fd, POLLIN, on_accept, c);
	return c;
fail:
	ctl_free(c);
	return NULL;
}

void ctl_free(struct ctl *c)
{
	if (!c)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd >= 0)
			client_close(c, &c->clients[i]);
	loop_timer_cancel(c->loop, c->sweep_timer);
	if (c->fd >= 0) {
		loop_fd_del(c->loop, c->fd);
		close(c->fd);
		if (c->path)
			unlink(c->path);
	}
	free(c->path);
	free(c);
}
