/*
 * fuzz_scenario.c: the scenario parser and runner (safehoused --test)
 * against the demo house. The parser reads a file, so each input is written
 * to a memfd and read back through /proc/self/fd: no disk, no temp files.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "gateway/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null;
	const struct config *cfg = fuzz_demo_config();
	char path[64];
	const char *files[1] = {path};
	int fd = memfd_create("fuzz.scenario", MFD_CLOEXEC);

	FUZZ_CHECK(fd >= 0);
	if (!null)
		null = fopen("/dev/null", "w");
	FUZZ_CHECK(null);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	scenario_run_files(cfg, files, 1, null, null);
	close(fd);
	return 0;
}
