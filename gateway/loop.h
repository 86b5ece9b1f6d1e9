/*
 * loop.h: the event loop: poll(2) over file descriptors plus one-shot timers
 * on CLOCK_MONOTONIC. One loop owns all daemon state; nothing here is
 * thread-safe and nothing needs to be.
 */
#ifndef SH_LOOP_H
#define SH_LOOP_H

#include <stdint.h>

struct loop;

typedef void (*loop_fd_fn)(void *ctx, int fd, short revents);
typedef void (*loop_timer_fn)(void *ctx);
typedef void (*loop_prepare_fn)(void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watch fd for events (POLLIN/POLLOUT). One watcher per fd. */
int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *ctx);
int loop_fd_events(struct loop *l, int fd, short events);
void loop_fd_del(struct loop *l, int fd);

/* Run fn once after delay_ms. Returns a timer id > 0, or -1. */
int loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_fn fn, void *ctx);
/* Cancel a timer; ids that already fired or 0 are ignored. */
void loop_timer_cancel(struct loop *l, int id);

/* Called before every poll; used to update POLLOUT interest. */
int loop_prepare_add(struct loop *l, loop_prepare_fn fn, void *ctx);
void loop_prepare_del(struct loop *l, loop_prepare_fn fn, void *ctx);

/* Wait at most max_wait_ms (-1: until something happens) and dispatch. */
int loop_run_once(struct loop *l, int max_wait_ms);

/* Monotonic and wall-clock (UTC epoch) milliseconds: clock reads, safe from
 * any thread (the workers time their waits with loop_mono_ms). */
int64_t loop_mono_ms(void);
int64_t loop_wall_ms(void);

/* Diagnostics: SAFEHOUSE_TRACE_US=N in the environment logs every stretch
 * of work longer than N microseconds (a loop iteration, a read burst, a
 * store batch, a wait for a lock shared with a thread) with what it did,
 * its CPU time and its context switches: a stretch with little CPU and
 * voluntary switches waited (a lock, the disk), one with involuntary
 * switches was preempted. 0 (the default): off, and nothing is measured. */
int64_t loop_trace_us(void);
struct loop_span {
	int64_t wall_us, cpu_us;
	long vcsw, ivcsw;
};
/* Start a span on the calling thread (only when loop_trace_us() > 0). */
void loop_span_begin(struct loop_span *sp);
/* The span so far into d; 1 when it is longer than the threshold. */
int loop_span_end(const struct loop_span *sp, struct loop_span *d);

#endif
