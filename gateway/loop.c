/*
 * loop.c: poll(2) loop with a small timer table.
 *
 * The daemon has a handful of fds and timers, so flat arrays scanned per
 * iteration are cheaper and simpler than heaps and hash tables.
 */
#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "log.h"

struct watcher {
	int fd;
	short events;
	loop_fd_fn fn;
	void *ctx;
};

struct timer {
	int id;
	int64_t due;
	loop_timer_fn fn;
	void *ctx;
};

struct prepare {
	loop_prepare_fn fn;
	void *ctx;
};

struct loop {
	struct watcher *w;
	int nw, cw;
	struct timer *t;
	int nt, ct;
	int next_id;
	struct prepare *p;
	int np, cp;
	struct pollfd *pfd;
	int cpfd;
};

static int grow(void **arr, int *cap, int need, size_t elem)
{
	if (need <= *cap)
		return 0;
	int nc = *cap ? *cap * 2 : 8;
	while (nc < need)
		nc *= 2;
	void *n = realloc(*arr, (size_t)nc * elem);
	if (!n)
		return -1;
	*arr = n;
	*cap = nc;
	return 0;
}

int64_t loop_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t loop_trace_us(void)
{
	static int64_t us = -1;
	if (us < 0) {
		const char *e = getenv("SAFEHOUSE_TRACE_US");
		us = e ? atoll(e) : 0;
		if (us < 0)
			us = 0;
	}
	return us;
}

static void span_now(struct loop_span *sp)
{
	struct timespec ts;
	struct rusage ru;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	sp->wall_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	sp->cpu_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	getrusage(RUSAGE_THREAD, &ru);
	sp->vcsw = ru.ru_nvcsw;
	sp->ivcsw = ru.ru_nivcsw;
}

void loop_span_begin(struct loop_span *sp)
{
	span_now(sp);
}

int loop_span_end(const struct loop_span *sp, struct loop_span *d)
{
	span_now(d);
	d->wall_us -= sp->wall_us;
	d->cpu_us -= sp->cpu_us;
	d->vcsw -= sp->vcsw;
	d->ivcsw -= sp->ivcsw;
	return d->wall_us > loop_trace_us();
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	if (l)
		l->next_id = 1;
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	free(l->w);
	free(l->t);
	free(l->p);
	free(l->pfd);
	free(l);
}

int loop_fd_add(struct loop *l, int fd, short events, loop_fd_fn fn, void *ctx)
{
	if (fd < 0 || grow((void **)&l->w, &l->cw, l->nw + 1, sizeof(*l->w)) < 0)
		return -1;
	l->w[l->nw++] = (struct watcher){fd, events, fn, ctx};
	return 0;
}

int loop_fd_events(struct loop *l, int fd, short events)
{
	for (int i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd) {
			l->w[i].events = events;
			return 0;
		}
	return -1;
}

void loop_fd_del(struct loop *l, int fd)
{
	for (int i = 0; i < l->nw; i++)
		if (l->w[i].fd == fd) {
			/* Mark instead of compacting: this may run inside a
			 * dispatch that is iterating the array. */
			l->w[i].fd = -1;
			l->w[i].fn = NULL;
		}
}

int loop_timer_add(struct loop *l, int64_t delay_ms, loop_timer_fn fn, void *ctx)
{
	if (grow((void **)&l->t, &l->ct, l->nt + 1, sizeof(*l->t)) < 0)
		return -1;
	int id = l->next_id++;
	if (l->next_id <= 0)
		l->next_id = 1;
	l->t[l->nt++] = (struct timer){id, loop_mono_ms() + (delay_ms > 0 ? delay_ms : 0), fn, ctx};
	return id;
}

void loop_timer_cancel(struct loop *l, int id)
{
	if (id <= 0)
		return;
	for (int i = 0; i < l->nt; i++)
		if (l->t[i].id == id) {
			l->t[i] = l->t[--l->nt];
			return;
		}
}

int loop_prepare_add(struct loop *l, loop_prepare_fn fn, void *ctx)
{
	if (grow((void **)&l->p, &l->cp, l->np + 1, sizeof(*l->p)) < 0)
		return -1;
	l->p[l->np++] = (struct prepare){fn, ctx};
	return 0;
}

void loop_prepare_del(struct loop *l, loop_prepare_fn fn, void *ctx)
{
	for (int i = 0; i < l->np; i++)
		if (l->p[i].fn == fn && l->p[i].ctx == ctx) {
			l->p[i] = l->p[--l->np];
			return;
		}
}

static void run_timers(struct loop *l)
{
	int64_t now = loop_mono_ms();
	/* A fired timer may add or cancel timers; restart the scan after
	 * each one. */
	for (;;) {
		int found = -1;
		for (int i = 0; i < l->nt; i++)
			if (l->t[i].due <= now && (found < 0 || l->t[i].due < l->t[found].due))
				found = i;
		if (found < 0)
			return;
		struct timer t = l->t[found];
		l->t[found] = l->t[--l->nt];
		t.fn(t.ctx);
	}
}

/* loop_run_once's dispatch with SAFEHOUSE_TRACE_US: the same, timed. */
static int dispatch_traced(struct loop *l, int rc, int n)
{
	struct loop_span all, one, d;
	int64_t slowest = 0, timers_us;
	int slow_fd = -1, nfd = 0, nt = l->nt;
	loop_span_begin(&all);
	for (int i = 0; rc > 0 && i < n; i++) {
		if (!l->pfd[i].revents)
			continue;
		for (int j = 0; j < l->nw; j++)
			if (l->w[j].fd == l->pfd[i].fd && l->w[j].fn) {
				loop_span_begin(&one);
				l->w[j].fn(l->w[j].ctx, l->w[j].fd, l->pfd[i].revents);
				loop_span_end(&one, &d);
				nfd++;
				if (d.wall_us > slowest) {
					slowest = d.wall_us;
					slow_fd = l->pfd[i].fd;
				}
				break;
			}
	}
	loop_span_begin(&one);
	run_timers(l);
	loop_span_end(&one, &d);
	timers_us = d.wall_us;
	if (loop_span_end(&all, &d))
		log_notice("trace: loop iteration %lld us (cpu %lld us, vcsw %ld, ivcsw %ld): "
		           "%d fd(s), slowest fd %d %lld us; timers %lld us (%d -> %d)",
		           (long long)d.wall_us, (long long)d.cpu_us, d.vcsw, d.ivcsw, nfd, slow_fd,
		           (long long)slowest, (long long)timers_us, nt, l->nt);
	return 0;
}

int loop_run_once(struct loop *l, int max_wait_ms)
{
	int64_t now, wait = max_wait_ms;
	int n = 0, rc;

	for (int i = 0; i < l->np; i++)
		l->p[i].fn(l->p[i].ctx);

	/* Drop deleted watchers. */
	for (int i = 0; i < l->nw;)
		if (l->w[i].fd < 0)
			l->w[i] = l->w[--l->nw];
		else
			i++;

	now = loop_mono_ms();
	for (int i = 0; i < l->nt; i++) {
		int64_t d = l->t[i].due - now;
		if (d < 0)
			d = 0;
		if (wait < 0 || d < wait)
			wait = d;
	}
	if (grow((void **)&l->pfd, &l->cpfd, l->nw + 1, sizeof(*l->pfd)) < 0)
		return -1;
	for (int i = 0; i < l->nw; i++) {
		l->pfd[n].fd = l->w[i].fd;
		l->pfd[n].events = l->w[i].events;
		l->pfd[n].revents = 0;
		n++;
	}
	rc = poll(l->pfd, (nfds_t)n, wait > 60000 ? 60000 : (int)wait);
	if (rc < 0 && errno != EINTR)
		return -1;
	if (loop_trace_us() > 0)
		return dispatch_traced(l, rc, n);
	for (int i = 0; rc > 0 && i < n; i++) {
		if (!l->pfd[i].revents)
			continue;
		/* Find the watcher again: an earlier callback may have
		 * removed it. */
		for (int j = 0; j < l->nw; j++)
			if (l->w[j].fd == l->pfd[i].fd && l->w[j].fn) {
				l->w[j].fn(l->w[j].ctx, l->w[j].fd, l->pfd[i].revents);
				break;
			}
	}
	run_timers(l);
	return 0;
}
