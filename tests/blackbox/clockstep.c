/*
 * clockstep.c: an LD_PRELOAD shim that steps the wall clock of one process,
 * for test_clock_step.py. Built by the test (cc -shared -fPIC).
 *
 * CLOCKSTEP_FILE names a file holding an offset in seconds ("0", "-3600");
 * the process's CLOCK_REALTIME (clock_gettime, gettimeofday, time) is the
 * real one plus that offset, read again at most every 20 ms. CLOCK_MONOTONIC
 * is left alone, as a real NTP step leaves it.
 *
 * Why not libfaketime: it wraps pthread_cond_timedwait and turns every
 * CLOCK_REALTIME deadline into a relative wait when the wait starts, so a
 * step during a wait changes nothing and the stall that a real step causes
 * (the kernel keeps an absolute CLOCK_REALTIME deadline and waits the
 * length of the step) never shows. This shim does what the kernel does: a
 * timed wait on a condition variable that keeps the default clock ends when
 * the stepped wall clock reaches its deadline, checked every 50 ms. A
 * condition variable made with pthread_condattr_setclock(CLOCK_MONOTONIC)
 * waits as it would without the shim.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static int (*real_cond_init)(pthread_cond_t *, const pthread_condattr_t *);
static int (*real_cond_timedwait)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *);
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Condition variables made with CLOCK_MONOTONIC; a daemon makes a few. */
#define MAX_MONO 256
static pthread_mutex_t mono_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t *mono[MAX_MONO];
static int nmono;

static pthread_mutex_t off_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t offset_ns, read_at_ns;
static int have_read;

static void init(void)
{
	real_clock_gettime =
	    (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	real_cond_init = (int (*)(pthread_cond_t *, const pthread_condattr_t *))dlsym(
	    RTLD_NEXT, "pthread_cond_init");
	real_cond_timedwait =
	    (int (*)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *))dlvsym(
	        RTLD_NEXT, "pthread_cond_timedwait", "GLIBC_2.3.2");
	if (!real_cond_timedwait)
		real_cond_timedwait =
		    (int (*)(pthread_cond_t *, pthread_mutex_t *, const struct timespec *))dlsym(
		        RTLD_NEXT, "pthread_cond_timedwait");
}

static int64_t ns_of(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static struct timespec ts_of(int64_t ns)
{
	struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
	if (ts.tv_nsec < 0) {
		ts.tv_sec--;
		ts.tv_nsec += 1000000000;
	}
	return ts;
}

static int64_t real_ns(clockid_t clk)
{
	struct timespec ts;
	pthread_once(&once, init);
	real_clock_gettime(clk, &ts);
	return ns_of(&ts);
}

static int64_t offset(void)
{
	int64_t now = real_ns(CLOCK_MONOTONIC), off;
	pthread_mutex_lock(&off_mu);
	if (!have_read || now - read_at_ns > 20000000) {
		const char *path = getenv("CLOCKSTEP_FILE");
		FILE *f = path ? fopen(path, "r") : NULL;
		long long sec;
		if (f) {
			if (fscanf(f, "%lld", &sec) == 1)
				offset_ns = (int64_t)sec * 1000000000;
			fclose(f);
		}
		read_at_ns = now;
		have_read = 1;
	}
	off = offset_ns;
	pthread_mutex_unlock(&off_mu);
	return off;
}

static int64_t wall_ns(void)
{
	return real_ns(CLOCK_REALTIME) + offset();
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	pthread_once(&once, init);
	if (clk != CLOCK_REALTIME && clk != CLOCK_REALTIME_COARSE)
		return real_clock_gettime(clk, ts);
	*ts = ts_of(wall_ns());
	return 0;
}

int gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts = ts_of(wall_ns());
	(void)tz;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t time(time_t *t)
{
	time_t now = (time_t)(wall_ns() / 1000000000);
	if (t)
		*t = now;
	return now;
}

int pthread_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	clockid_t clk = CLOCK_REALTIME;
	pthread_once(&once, init);
	if (attr)
		pthread_condattr_getclock(attr, &clk);
	pthread_mutex_lock(&mono_mu);
	for (int i = 0; i < nmono; i++)
		if (mono[i] == c)
			mono[i--] = mono[--nmono];
	if (clk == CLOCK_MONOTONIC && nmono < MAX_MONO)
		mono[nmono++] = c;
	pthread_mutex_unlock(&mono_mu);
	return real_cond_init(c, attr);
}

static int is_mono(pthread_cond_t *c)
{
	int yes = 0;
	pthread_mutex_lock(&mono_mu);
	for (int i = 0; i < nmono && !yes; i++)
		yes = mono[i] == c;
	pthread_mutex_unlock(&mono_mu);
	return yes;
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs)
{
	pthread_once(&once, init);
	if (is_mono(c))
		return real_cond_timedwait(c, m, abs);
	/* The deadline is on the stepped wall clock: wait in slices, and look
	 * at that clock after each, as the kernel would after a step. */
	for (;;) {
		int64_t left = ns_of(abs) - wall_ns();
		struct timespec until;
		int rc;
		if (left <= 0)
			return ETIMEDOUT;
		if (left > 50000000)
			left = 50000000;
		until = ts_of(real_ns(CLOCK_REALTIME) + left);
		rc = real_cond_timedwait(c, m, &until);
		if (rc != ETIMEDOUT)
			return rc;
	}
}
