/*
 * slowdns.c: an LD_PRELOAD shim that makes one host name's lookup hang, as
 * with an unreachable DNS server, for test_upstream_dns.py. Built by the
 * test (cc -shared -fPIC).
 *
 * getaddrinfo() of the name in SLOWDNS_HOST waits until the file named by
 * SLOWDNS_RELEASE exists (checked every 20 ms), then resolves 127.0.0.1.
 * Any other name is resolved as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *,
	                   struct addrinfo **);
	const char *host = getenv("SLOWDNS_HOST"), *release = getenv("SLOWDNS_RELEASE");

	if (!real)
		real = (int (*)(const char *, const char *, const struct addrinfo *,
		                struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	if (node && host && release && strcmp(node, host) == 0) {
		struct timespec ts = {0, 20 * 1000 * 1000};
		while (access(release, F_OK) != 0)
			nanosleep(&ts, NULL);
		node = "127.0.0.1";
	}
	return real(node, service, hints, res);
}
