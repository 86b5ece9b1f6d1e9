/*
 * svc.c: systemd's notification protocol through libsystemd's sd_notify
 * (see svc.h). Built without libsystemd (WITH_SYSTEMD=OFF), every call
 * does nothing and there is no watchdog.
 */
#include "svc.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#ifdef SH_WITH_SYSTEMD
#include <systemd/sd-daemon.h>

static int notify(const char *state)
{
	/* 0: do not unset NOTIFY_SOCKET, every later call needs it. A return
	 * of 0 means nobody listens (not started by a manager): fine. */
	int r = sd_notify(0, state);
	return r < 0 ? r : 0;
}

int64_t svc_watchdog_ms(void)
{
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
		return 0;
	/* Half the interval, as sd_watchdog_enabled(3) recommends: one late
	 * ping is not yet a restart. */
	return usec / 2000 > 0 ? (int64_t)(usec / 2000) : 1;
}
#else
static int notify(const char *state)
{
	(void)state;
	return 0;
}

int64_t svc_watchdog_ms(void)
{
	return 0;
}
#endif

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
