/*
 * svc.c: systemd's notification protocol (see svc.h), spoken directly.
 *
 * Why not libsystemd's sd_notify: the protocol is one datagram of
 * "KEY=VALUE" lines to the AF_UNIX socket named by $NOTIFY_SOCKET, which
 * systemd documents as a stable interface and for which sd_notify(3) gives a
 * standalone reference implementation, so that daemons need not link
 * libsystemd. Linking it cost safehoused 0.9 MB of resident memory at start
 * (libsystemd and what it pulls in: libgcrypt, liblz4, liblzma, libzstd,
 * libcap) for two calls (issue 16, tests/bench/README.md "Memory").
 */
#include "svc.h"

#include <errno.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Send state to $NOTIFY_SOCKET as sd_notify(0, state) does: a path, or an
 * abstract socket when it starts with '@'. Nobody listening (no variable)
 * is 0; the variable is kept, every later call needs it. */
static int notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen, slen = strlen(state);
	socklen_t salen;
	int fd, rc = 0;

	if (!path || !*path)
		return 0;
	plen = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || plen >= sizeof(sa.sun_path))
		return -EAFNOSUPPORT;
	memcpy(sa.sun_path, path, plen);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, salen) < 0) {
		rc = -errno;
		goto out;
	}
	/* One datagram: it arrives whole or not at all. */
	ssize_t n = write(fd, state, slen);
	if (n < 0)
		rc = -errno;
	else if ((size_t)n != slen)
		rc = -EPROTO;
out:
	close(fd);
	return rc;
}

int64_t svc_watchdog_ms(void)
{
	/* As sd_watchdog_enabled(0, &usec): $WATCHDOG_USEC, and $WATCHDOG_PID
	 * (when set) must be this process, not a parent that exec'd us. */
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long usec;
	char *end;

	if (!us || !*us)
		return 0;
	errno = 0;
	usec = strtoull(us, &end, 10);
	if (errno || *end || usec == 0)
		return 0;
	if (pid && *pid) {
		long p = strtol(pid, &end, 10);
		if (*end || p != (long)getpid())
			return 0;
	}
	/* Half the interval, as sd_watchdog_enabled(3) recommends: one late
	 * ping is not yet a restart. */
	return usec / 2000 > 0 ? (int64_t)(usec / 2000) : 1;
}

int svc_ready(const char *status)
{
	char buf[512];
	if (!status)
		return notify("READY=1");
	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	return notify(buf);
}

int svc_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "STATUS=");
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	return notify(buf);
}

int svc_reloading(void)
{
	char buf[96];
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(buf, sizeof(buf), "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ULL +
	             (unsigned long long)ts.tv_nsec / 1000ULL);
	return notify(buf);
}

int svc_stopping(void)
{
	return notify("STOPPING=1");
}

int svc_watchdog_ping(void)
{
	return notify("WATCHDOG=1");
}
