/*
 * log.c: stderr or syslog.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int use_stderr = 1;
static int max_level = LOG_INFO;

void log_init(const char *ident, int to_stderr, int level)
{
	use_stderr = to_stderr;
	max_level = level;
	if (!to_stderr)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(int level)
{
	max_level = level;
}

int log_enabled(int level)
{
	return level <= max_level;
}

int log_level_from_name(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = {{"debug", LOG_DEBUG},
	              {"info", LOG_INFO},
	              {"notice", LOG_NOTICE},
	              {"warning", LOG_WARNING},
	              {"error", LOG_ERR}};
	for (size_t i = 0; name && i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(levels[i].name, name) == 0)
			return levels[i].level;
	return -1;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;
	if (level > max_level)
		return;
	va_start(ap, fmt);
	if (use_stderr) {
		static const char *const names[] = {"emerg",   "alert",  "crit", "error",
		                                    "warning", "notice", "info", "debug"};
		char ts[32];
		struct timespec now;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &now);
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s: ", ts, now.tv_nsec / 1000000, names[level & 7]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(level, fmt, ap);
	}
	va_end(ap);
}
