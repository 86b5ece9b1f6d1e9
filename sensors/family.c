/*
 * family.c: the list of payload families. Adding a family is one new file
 * with its vtable plus one line here.
 */
#include "family.h"

#include <stdlib.h>
#include <string.h>

static const struct family *const families[] = {
    &family_zigbee2mqtt,
    &family_tasmota,
    &family_shelly,
    &family_json,
};

const char *const family_names[] = {"zigbee2mqtt", "tasmota", "shelly", "json", NULL};

static const char *const reject_names[] = {
    "none",     "too_large", "not_json",  "not_object",    "too_deep",
    "bad_type", "no_fields", "bad_value", "unknown_topic",
};

const char *family_reject_name(enum family_reject r)
{
	return (unsigned)r < REJECT__COUNT ? reject_names[r] : "?";
}

const struct family *family_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		if (strcmp(families[i]->name, name) == 0)
			return families[i];
	return NULL;
}

void family_binding_free(struct family_binding *b)
{
	const struct family *fam = family_find(b->format);

	if (b->opts && fam && fam->free_opts)
		fam->free_opts(b);
	b->opts = NULL;
	free(b->topic);
	free(b->format);
	b->topic = b->format = NULL;
}
