/*
 * fuzz_ctl.c: control socket requests. The input is a client's byte stream:
 * split into lines as the server does (ctl.c process()), each line parsed
 * by ctl_parse_request(). The command handlers live in the daemon
 * (main.c run_command) and need all of it; they are not reached here.
 */
#include <cjson/cJSON.h>

#include "fuzz.h"
#include "gateway/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl : end) - p);
		const char *err = NULL;
		cJSON *req;
		if (len > 0) {
			req = ctl_parse_request(p, len, &err);
			if (req)
				FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItem(req, "cmd")));
			else
				FUZZ_CHECK(err && *err);
			cJSON_Delete(req);
		}
		p += len + 1;
	}
	return 0;
}
