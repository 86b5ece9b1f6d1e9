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

#define CTL_MAX_CLIENTS 16
#define CTL_MAX_LINE 65536

struct client {
	int fd;
	char *buf;
	size_t len;
};

struct ctl {
	struct loop *loop;
	int fd;
	char *path;
	ctl_handler_fn fn;
	void *ctx;
	struct client clients[CTL_MAX_CLIENTS];
};

static void client_close(struct ctl *c, struct client *cl)
{
	loop_fd_del(c->loop, cl->fd);
	close(cl->fd);
	free(cl->buf);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
}

static void reply(struct client *cl, cJSON *r)
{
	char *text = cJSON_PrintUnformatted(r);
	size_t len, off = 0;
	if (!text)
		return;
	len = strlen(text);
	text[len] = 0;
	/* Replies are small and the client is waiting for them; a client that
	 * stops reading gets cut off rather than blocking the loop. */
	while (off < len) {
		ssize_t w = send(cl->fd, text + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {cl->fd, POLLOUT, 0};
			if (poll(&p, 1, 1000) <= 0)
				break;
			continue;
		}
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	send(cl->fd, "\n", 1, MSG_NOSIGNAL);
	free(text);
}

static cJSON *error_reply(const char *msg)
{
	cJSON *r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "ok", 0);
	cJSON_AddStringToObject(r, "error", msg);
	return r;
}

static void handle_line(struct ctl *c, struct client *cl, const char *line, size_t len)
{
	cJSON *req = cJSON_ParseWithLength(line, len), *r;
	if (!req)
		r = error_reply("request is not valid JSON");
	else if (!cJSON_IsObject(req) || !cJSON_IsString(cJSON_GetObjectItem(req, "cmd")))
		r = error_reply("request must be a JSON object with a string \"cmd\"");
	else
		r = c->fn(c->ctx, req);
	if (!r)
		r = error_reply("internal error");
	reply(cl, r);
	cJSON_Delete(r);
	cJSON_Delete(req);
}

static void on_client(void *arg, int fd, short revents)
{
	struct ctl *c = arg;
	struct client *cl = NULL;
	char tmp[4096];
	ssize_t n;
	(void)revents;

	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (c->clients[i].fd == fd)
			cl = &c->clients[i];
	if (!cl)
		return;
	n = recv(fd, tmp, sizeof(tmp), 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_close(c, cl);
		return;
	}
	if (cl->len + (size_t)n > CTL_MAX_LINE) {
		cJSON *r = error_reply("request line too long");
		reply(cl, r);
		cJSON_Delete(r);
		client_close(c, cl);
		return;
	}
	char *nb = realloc(cl->buf, cl->len + (size_t)n + 1);
	if (!nb) {
		client_close(c, cl);
		return;
	}
	cl->buf = nb;
	memcpy(cl->buf + cl->len, tmp, (size_t)n);
	cl->len += (size_t)n;
	for (;;) {
		char *nl = memchr(cl->buf, '\n', cl->len);
		size_t ll;
		if (!nl)
			break;
		ll = (size_t)(nl - cl->buf);
		if (ll > 0)
			handle_line(c, cl, cl->buf, ll);
		if (cl->fd < 0)
			return;
		memmove(cl->buf, nl + 1, cl->len - ll - 1);
		cl->len -= ll + 1;
	}
}

static void on_accept(void *arg, int fd, short revents)
{
	struct ctl *c = arg;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	(void)revents;
	if (cfd < 0)
		return;
	for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
		if (c->clients[i].fd < 0) {
			c->clients[i].fd = cfd;
			loop_fd_add(c->loop, cfd, POLLIN, on_client, c);
			return;
		}
	}
	log_warn("ctl: too many control connections; refusing one");
	close(cfd);
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
	if (listen(c->fd, 8) < 0) {
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
	if (c->fd >= 0) {
		loop_fd_del(c->loop, c->fd);
		close(c->fd);
		if (c->path)
			unlink(c->path);
	}
	free(c->path);
	free(c);
}
