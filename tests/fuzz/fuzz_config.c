/*
 * fuzz_config.c: the config loader, from a string, with relative paths
 * (profiles, rule files) resolved beside the demo config.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	int ne = 0;
	struct config *c;
	log_set_level(LOG_EMERG);
	c = config_load_string(text, "fuzz.json", FUZZ_SRC_DIR "/deploy/examples", fuzz_quiet_diag,
	                       NULL, &ne);
	FUZZ_CHECK(c || ne > 0);
	config_free(c);
	free(text);
	return 0;
}
