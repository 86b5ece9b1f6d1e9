/*
 * log.h: logging to stderr (foreground) or syslog/journald.
 *
 * Levels are syslog's (LOG_ERR ... LOG_DEBUG). Messages below the configured
 * level are dropped before formatting.
 */
#ifndef SH_LOG_H
#define SH_LOG_H

#include <syslog.h>

/* to_stderr: 1 logs to stderr with a timestamp, 0 to syslog as ident. */
void log_init(const char *ident, int to_stderr, int level);
void log_set_level(int level);
/* Parse "debug", "info", "notice", "warning", "error"; -1 when unknown. */
int log_level_from_name(const char *name);
int log_enabled(int level);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_DEBUG))                                                        \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
