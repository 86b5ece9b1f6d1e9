/*
 * z2m_siren.c: commands for zigbee2mqtt outputs.
 *
 * This version knows one siren form, the "warning" composite of the ZCL IAS
 * WD cluster; relays and valves take {"state":"ON"/"OFF"}.
 */
#include "z2m_siren.h"

#include <stdio.h>

int z2m_siren_configure(struct family_binding *b, const struct cJSON *mqtt,
                        const struct family_cfg *cfg)
{
	(void)b;
	(void)mqtt;
	(void)cfg;
	return 0;
}

void z2m_siren_free(struct family_binding *b)
{
	b->opts = NULL;
}

int z2m_siren_encode(const struct family_binding *b, const struct family_output_cmd *cmd, char *buf,
                     size_t size)
{
	int len;

	(void)b;
	if (!cmd->siren)
		len = snprintf(buf, size, "{\"state\":\"%s\"}", cmd->on ? "ON" : "OFF");
	else if (!cmd->on)
		len = snprintf(buf, size, "{\"warning\":{\"mode\":\"stop\"}}");
	else
		len = snprintf(buf, size,
		               "{\"warning\":{\"mode\":\"%s\",\"level\":\"very_high\","
		               "\"strobe\":true,\"duration\":%d}}",
		               cmd->pattern == SIREN_OFF ? "fire" : sh_siren_name(cmd->pattern),
		               cmd->duration_s > 0 ? cmd->duration_s : 300);
	if (len < 0 || (size_t)len >= size)
		return -1;
	return len;
}
