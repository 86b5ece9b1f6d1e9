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

#endif
