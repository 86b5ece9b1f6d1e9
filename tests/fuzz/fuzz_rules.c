/*
 * fuzz_rules.c: the rule language (lexer, parser, compiler) against the
 * demo house, so that names of zones and sensors resolve and the compiler's
 * later passes run too.
 */
#include "fuzz.h"
#include "rules/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* built once: the demo config lives as long as the process */
	static struct rules_site *site;
	char *text = fuzz_cstr(data, size);
	int ne = 0, nw = 0;
	struct ruleset *rs;

	if (!site)
		site = config_rules_site(fuzz_demo_config());
	FUZZ_CHECK(site != NULL);
	rs = rules_compile_string(text, "fuzz.rules", site, fuzz_quiet_diag, NULL, &ne, &nw);
	FUZZ_CHECK(rs || ne > 0);
	rules_free(rs);
	free(text);
	return 0;
}
