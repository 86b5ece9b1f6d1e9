/*
 * worker.h: a thread with a queue, and a way back to the event loop.
 *
 * The loop posts jobs to a worker. The worker's thread takes them, in the
 * order they came, when one is urgent, when wake_len of them have queued,
 * when the oldest is batch_ms old, or when the thread's own deadline comes
 * (its next poll, its next retry). What the thread has for the loop (a job
 * it finished, an event of its own) goes onto a done list whose eventfd the
 * loop polls; several workers may share one done list, so that the loop
 * watches one descriptor for all of them.
 *
 * Every timed wait is on CLOCK_MONOTONIC (pthread_condattr_setclock), and
 * deadlines are loop_mono_ms() values: a step of the wall clock (NTP on a
 * board without a battery-backed clock) neither stalls a worker for the
 * length of the step nor makes it spin.
 *
 * Jobs are intrusive: embed a struct worker_job as the first member of your
 * own struct and cast back. Who frees a job: whoever holds it; a job handed
 * to worker_post or worker_reply belongs to the worker or the done list
 * until worker_next, worker_done_take or worker_stop gives it back.
 */
#ifndef SH_WORKER_H
#define SH_WORKER_H

#include <stddef.h>
#include <stdint.h>

struct worker_job {
	struct worker_job *next;
	int waited; /* worker_call: 1 while the caller waits, 2 when done */
};

struct worker;
struct worker_done;

/* The thread's body: loops on worker_next until it says stop, then returns. */
typedef void (*worker_run_fn)(struct worker *w, void *ctx);

/* ---- the done list (loop side, except worker_done_push) ----------------- */

/* NULL on error, with why in err. */
struct worker_done *worker_done_new(char *err, size_t errlen);
/* Jobs still on the list are passed to free_job (when not NULL). Call after
 * every worker that uses it has stopped. Accepts NULL. */
void worker_done_free(struct worker_done *d, void (*free_job)(struct worker_job *j));
/* Readable when the list has something (or a worker called worker_notify). */
int worker_done_fd(const struct worker_done *d);
/* Everything on the list, oldest first (NULL when empty); clears the fd.
 * The caller owns the jobs. */
struct worker_job *worker_done_take(struct worker_done *d);

/* ---- the worker (loop side) ---------------------------------------------- */

/* A worker that is not running yet: keep the handle where the run function
 * can see it, then worker_start. batch_ms 0: every job wakes the thread at
 * once; wake_len 0: no length limit. NULL when out of memory. */
struct worker *worker_new(struct worker_done *done, int64_t batch_ms, int wake_len);
/* Start the thread. Returns 0, or -1 (the worker is still to be stopped). */
int worker_start(struct worker *w, worker_run_fn run, void *ctx);
/* Ask the thread to stop, join it and free the worker. Returns the jobs it
 * never took, oldest first, for the caller to free. Accepts NULL. */
struct worker_job *worker_stop(struct worker *w);

/* Queue a job; urgent wakes the thread at once. */
void worker_post(struct worker *w, struct worker_job *j, int urgent);
/* Queue n jobs linked through next, first to last, with one take of the
 * queue's lock. wait 0: give up rather than wait when the thread holds the
 * lock (returns -1; the jobs are still the caller's), so that the loop
 * never waits for a thread that was preempted while holding it. Returns 0
 * when queued. */
int worker_post_list(struct worker *w, struct worker_job *first, struct worker_job *last, int n,
                     int urgent, int wait);
/* Queue a job as urgent and block until the thread hands it back with
 * worker_reply. For a clean stop only, never on the loop's normal path. */
void worker_call(struct worker *w, struct worker_job *j);

/* ---- the thread side ----------------------------------------------------- */

/* Wait for work (see the top), or until due_ms on loop_mono_ms()'s clock
 * (INT64_MAX: no deadline of its own). Sets *jobs to the queued jobs,
 * oldest first (NULL when none), owned by the caller. Returns 1 when the
 * worker is being stopped, else 0. */
int worker_next(struct worker *w, int64_t due_ms, struct worker_job **jobs);
/* Is an urgent job waiting? For a thread in a long round of work that
 * should give way to one (a siren write between polls). */
int worker_urgent(struct worker *w);
/* Hand a job to the loop: back to its worker_call if one waits for it,
 * else onto the done list. Any job will do, taken or made by the thread. */
void worker_reply(struct worker *w, struct worker_job *j);
/* Wake the loop with nothing on the list (state it reads changed). */
void worker_notify(struct worker *w);

#endif
