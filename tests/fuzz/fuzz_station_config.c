/*
 * fuzz_station_config.c: the station's config loader, from a string;
 * relative paths point into a directory that does not exist, so that no
 * input reads a file of the machine's.
 */
#include "fuzz.h"
#include "station/sconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	struct sconfig *c = (struct sconfig *)1;
	int ne;

	log_set_level(LOG_EMERG);
	ne = sconfig_load_string(text, "fuzz.json", "/nonexistent-fuzz-dir", NULL, &c);
	/* Either a config and no error, or errors and no config. */
	FUZZ_CHECK((ne == 0) == (c != NULL));
	if (c) {
		FUZZ_CHECK(c->database && c->broker.host && c->broker.prefix && c->http.listen);
		for (size_t i = 0; i < c->nsites; i++)
			FUZZ_CHECK(sconfig_site(c, c->sites[i].id) != NULL);
	}
	sconfig_free(c);
	free(text);
	return 0;
}
