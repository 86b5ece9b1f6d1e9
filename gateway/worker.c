/*
 * worker.c: one thread, one queue in, one done list out.
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

struct worker_done {
	pthread_mutex_t mu;
	struct worker_job *head, *tail;
	int efd;
};

struct worker {
	struct worker_done *done;
	int64_t batch_ms;
	int wake_len;

	pthread_mutex_t mu;
	pthread_cond_t cv;      /* work or stop; CLOCK_MONOTONIC for timed waits */
	pthread_cond_t call_cv; /* a worker_call job came back */
	struct worker_job *head, *tail;
	int qlen, urgent, stop;
	int64_t first_ms; /* when the oldest queued job came */

	pthread_t thread;
	int started;
	worker_run_fn run;
	void *ctx;
};

/* ---- the done list ------------------------------------------------------- */

struct worker_done *worker_done_new(char *err, size_t errlen)
{
	struct worker_done *d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->mu, NULL);
	return d;
}

void worker_done_free(struct worker_done *d, void (*free_job)(struct worker_job *j))
{
	struct worker_job *j;
	if (!d)
		return;
	while ((j = d->head)) {
		d->head = j->next;
		if (free_job)
			free_job(j);
	}
	close(d->efd);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

int worker_done_fd(const struct worker_done *d)
{
	return d ? d->efd : -1;
}

static void done_kick(struct worker_done *d)
{
	uint64_t one = 1;
	/* Fails only when the counter is full, which means the loop has
	 * plenty to look at already. */
	if (write(d->efd, &one, sizeof(one)) < 0)
		one = 0;
}

static void done_push(struct worker_done *d, struct worker_job *j)
{
	j->next = NULL;
	pthread_mutex_lock(&d->mu);
	if (d->tail)
		d->tail->next = j;
	else
		d->head = j;
	d->tail = j;
	pthread_mutex_unlock(&d->mu);
	/* After the push: a loop that reads the counter first and takes the
	 * list second cannot miss this job. */
	done_kick(d);
}

struct worker_job *worker_done_take(struct worker_done *d)
{
	struct worker_job *list;
	uint64_t n;
	if (!d)
		return NULL;
	if (read(d->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("worker: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&d->mu);
	list = d->head;
	d->head = d->tail = NULL;
	pthread_mutex_unlock(&d->mu);
	return list;
}

/* ---- the worker ---------------------------------------------------------- */

struct worker *worker_new(struct worker_done *done, int64_t batch_ms, int wake_len)
{
	pthread_condattr_t attr;
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->done = done;
	w->batch_ms = batch_ms;
	w->wake_len = wake_len;
	pthread_mutex_init(&w->mu, NULL);
	/* The whole point: deadlines on the clock that never steps. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &attr);
	pthread_condattr_destroy(&attr);
	pthread_cond_init(&w->call_cv, NULL);
	return w;
}

static void *trampoline(void *arg)
{
	struct worker *w = arg;
	w->run(w, w->ctx);
	return NULL;
}

int worker_start(struct worker *w, worker_run_fn run, void *ctx)
{
	w->run = run;
	w->ctx = ctx;
	if (pthread_create(&w->thread, NULL, trampoline, w) != 0)
		return -1;
	w->started = 1;
	return 0;
}

struct worker_job *worker_stop(struct worker *w)
{
	struct worker_job *left;
	if (!w)
		return NULL;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (w->started)
		pthread_join(w->thread, NULL);
	left = w->head;
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	pthread_cond_destroy(&w->call_cv);
	free(w);
	return left;
}

static void post_list_locked(struct worker *w, struct worker_job *first, struct worker_job *last,
                             int n, int urgent)
{
	last->next = NULL;
	if (!w->head) {
		/* The first of a batch: the thread may be asleep with nothing
		 * to time; it sets its timer from this one. */
		w->first_ms = loop_mono_ms();
		pthread_cond_signal(&w->cv);
	}
	if (w->tail)
		w->tail->next = first;
	else
		w->head = first;
	w->tail = last;
	w->qlen += n;
	if (urgent || (w->wake_len && w->qlen >= w->wake_len)) {
		w->urgent = 1;
		pthread_cond_signal(&w->cv);
	}
}

static void post_locked(struct worker *w, struct worker_job *j, int urgent)
{
	post_list_locked(w, j, j, 1, urgent);
}

int worker_post_list(struct worker *w, struct worker_job *first, struct worker_job *last, int n,
                     int urgent, int wait)
{
	if (!wait) {
		if (pthread_mutex_trylock(&w->mu) != 0)
			return -1;
	} else {
		pthread_mutex_lock(&w->mu);
	}
	post_list_locked(w, first, last, n, urgent);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void worker_post(struct worker *w, struct worker_job *j, int urgent)
{
	struct loop_span sp, d;
	if (loop_trace_us() > 0) {
		loop_span_begin(&sp);
		pthread_mutex_lock(&w->mu);
		if (loop_span_end(&sp, &d))
			log_notice(
			    "trace: worker_post waited %lld us for the queue's lock (cpu %lld "
			    "us, vcsw %ld, ivcsw %ld), %d queued",
			    (long long)d.wall_us, (long long)d.cpu_us, d.vcsw, d.ivcsw, w->qlen);
	} else {
		pthread_mutex_lock(&w->mu);
	}
	post_locked(w, j, urgent);
	pthread_mutex_unlock(&w->mu);
}

void worker_call(struct worker *w, struct worker_job *j)
{
	pthread_mutex_lock(&w->mu);
	j->waited = 1;
	post_locked(w, j, 1);
	while (j->waited == 1)
		pthread_cond_wait(&w->call_cv, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

/* The monotonic deadline as the absolute time pthread_cond_timedwait
 * wants: the same clock, so no arithmetic against the wall clock. */
static struct timespec mono_abs(int64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
	                      .tv_nsec = (long)(ms % 1000) * 1000000};
	return ts;
}

int worker_next(struct worker *w, int64_t due_ms, struct worker_job **jobs)
{
	int stop;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		int64_t due = due_ms;
		struct timespec ts;
		if (w->stop || w->urgent)
			break;
		if (w->head && w->first_ms + w->batch_ms < due)
			due = w->first_ms + w->batch_ms;
		if (due == INT64_MAX) {
			pthread_cond_wait(&w->cv, &w->mu);
			continue;
		}
		if (due <= loop_mono_ms())
			break;
		ts = mono_abs(due);
		pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	}
	*jobs = w->head;
	w->head = w->tail = NULL;
	w->qlen = 0;
	w->urgent = 0;
	stop = w->stop;
	pthread_mutex_unlock(&w->mu);
	return stop;
}

int worker_urgent(struct worker *w)
{
	int u;
	pthread_mutex_lock(&w->mu);
	u = w->urgent;
	pthread_mutex_unlock(&w->mu);
	return u;
}

void worker_reply(struct worker *w, struct worker_job *j)
{
	pthread_mutex_lock(&w->mu);
	if (j->waited) {
		j->waited = 2;
		pthread_cond_broadcast(&w->call_cv);
		pthread_mutex_unlock(&w->mu);
		return;
	}
	pthread_mutex_unlock(&w->mu);
	done_push(w->done, j);
}

void worker_notify(struct worker *w)
{
	done_kick(w->done);
}
