/*
 * fuzz.h: what the libFuzzer targets share: the demo site (config and
 * rules) loaded once, and a check that aborts so libFuzzer reports it.
 */
#ifndef SH_FUZZ_H
#define SH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config.h"
#include "gateway/log.h"

/* FUZZ_SRC_DIR is the source tree (set by CMake): the demo config and its
 * rule files are read from there. */
#define FUZZ_DEMO_CONFIG FUZZ_SRC_DIR "/deploy/examples/nha-tro.json"

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__,        \
			        __LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline void fuzz_quiet_diag(void *ctx, int severity, const char *msg)
{
	(void)ctx;
	(void)severity;
	(void)msg;
}

/* The demo house, loaded once per process; rules and scenarios name its
 * zones and sensors. Aborts if it does not load: the fuzzer would test
 * nothing. */
static inline const struct config *fuzz_demo_config(void)
{
	static struct config *c;
	if (!c) {
		int ne = 0;
		log_set_level(LOG_EMERG);
		c = config_load(FUZZ_DEMO_CONFIG, fuzz_quiet_diag, NULL, &ne);
		if (!c) {
			fprintf(stderr, "fuzz: %s does not load (%d errors)\n", FUZZ_DEMO_CONFIG,
			        ne);
			abort();
		}
	}
	return c;
}

/* A NUL-terminated copy of the input (the parsers take C strings). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	FUZZ_CHECK(s);
	memcpy(s, data, size);
	s[size] = 0;
	return s;
}

#endif
