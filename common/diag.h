/*
 * diag.h: one collector for compiler-style diagnostics, used by the config
 * loader (gateway/config.c) and the rule compiler (rules/).
 *
 * Both check a whole input and report every problem in one pass, sorted
 * the way a compiler's would read: by file, then line, then column, and in
 * the order they were found for the same position. The checks themselves
 * run in whatever order suits them (a rule file is resolved after it is
 * parsed), so the collector keeps the messages and sorts once at the end.
 *
 * It lives in common/, not in gateway/ or sensors/: rules/ must not depend
 * on the daemon (gateway/), and sensors/ holds only the pure decoders of
 * outside payloads. common/ is for the few small helpers both sides need
 * that belong to neither; it includes nothing from the other folders.
 *
 * The message text is the caller's, whole ("FILE:LINE:COL: text" or
 * "FILE: text"): the "did you mean" hints and the position prefix stay
 * where they are written. The collector only counts, keeps and sorts.
 */
#ifndef SH_DIAG_H
#define SH_DIAG_H

#include <stddef.h>

/* severity: 0 error, 1 warning (the same convention as config_diag_fn and
 * rules_diag_fn, which have this type). */
typedef void (*diag_fn)(void *ctx, int severity, const char *msg);

/* One recorded diagnostic; line 0 is "the file as a whole" and sorts
 * before any position in that file. */
struct diag {
	int file; /* the caller's file index; 0 for single-file inputs */
	int line, col;
	int severity;
	size_t seq; /* order of addition, the last sort key */
	char *msg;
};

/* Zero-initialise; the fields are read by the owner (counts, oom) but only
 * changed through the functions below. */
struct diag_list {
	struct diag *v;
	size_t n, cap;
	int nerrors, nwarnings; /* every diag_add(), kept or not */
	int oom;                /* a message was lost for want of memory */
};

/* Count and keep one diagnostic. msg (malloc'ed) is taken over, also on
 * failure. A NULL msg (the caller ran out of memory formatting it) is
 * counted, not kept, and sets oom, as does a failure to grow the list. */
void diag_add(struct diag_list *dl, int file, int line, int col, int severity, char *msg);

/* Hand every kept diagnostic to fn (NULL: drop them), sorted by file, line,
 * column and order of addition, then free them. The counts and oom stay;
 * the list can be used again. Out of memory is the owner's to report,
 * after the flush: only the owner knows what to call the input. */
void diag_flush(struct diag_list *dl, diag_fn fn, void *ctx);

#endif
