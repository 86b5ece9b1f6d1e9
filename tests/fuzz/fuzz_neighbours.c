/*
 * fuzz_neighbours.c: a message on a neighbour's alarm feed (outside input
 * from another gateway, or anyone who can publish there), through the
 * validation and the dedup, with the demo house's neighbour group.
 */
#include "fuzz.h"

#include "gateway/neighbours.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct config *c = fuzz_demo_config();
	static struct neighbours *nb;
	struct neighbours_event ev;
	int rc;

	FUZZ_CHECK(c->nneighbours > 0);
	if (!nb)
		nb = neighbours_new(); /* kept: the dedup state carries across inputs */
	FUZZ_CHECK(nb);
	rc = neighbours_parse(nb, c, (int)(size % (size_t)c->nneighbours), data, size, 1000,
	                      1764374645123LL, &ev);
	FUZZ_CHECK(rc >= -1 && rc <= 1);
	if (rc == 1) {
		FUZZ_CHECK(ev.neighbour >= 0 && ev.neighbour < c->nneighbours);
		FUZZ_CHECK(ev.cls == ALARM_FIRE || ev.cls == ALARM_PANIC);
		FUZZ_CHECK((unsigned)ev.ev < RAE__COUNT);
		FUZZ_CHECK(ev.seq >= 1);
		FUZZ_CHECK(memchr(ev.address, 0, sizeof(ev.address)) != NULL);
	}
	return 0;
}
