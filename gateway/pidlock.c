/*
 * pidlock.c: the daemon's exclusive lock file.
 */
#include "pidlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* The pid another daemon wrote into the file, or 0. It writes it just after
 * locking, so a reader racing its start may find the file still empty. */
static pid_t read_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 0 || (*end && *end != '\n'))
		return 0;
	return (pid_t)pid;
}

int pidlock_take(const char *path, pid_t *holder, char *err, size_t errlen)
{
	char buf[32];
	int fd, len, rc;

	*holder = 0;
	/* No O_TRUNC: the file may be another daemon's, with its pid in it. */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot open lock file %s: %s", path, strerror(errno));
		return rc;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			rc = -EAGAIN;
			*holder = read_holder(fd);
			snprintf(err, errlen, "lock file %s is held by another process", path);
		} else {
			rc = -errno;
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
		}
		close(fd);
		return rc;
	}
	/* Ours now: the pid is for the message of the next one who tries. */
	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		/* The lock holds all the same; only the message loses the pid. */
	}
	return fd;
}
