/*
 * plugin.c: finding and loading the plugins (plugin.h).
 */
#include "plugin.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "status.h"

#ifndef SH_PLUGIN_DIR
#define SH_PLUGIN_DIR "/usr/local/lib/safehouse"
#endif

#define PLUGIN_MAX 4

/* What is loaded: never unloaded (plugin.h). */
static struct loaded {
	char file[64];
	const void *vtable;
} loaded[PLUGIN_MAX];

/* The running executable's directory into dir; 0, or -1. */
static int exe_dir(char *dir, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", dir, size - 1);
	char *slash;

	if (n <= 0)
		return -1;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

/* Where file is looked for (plugin.h) into path; 0, or -1 with err set. */
static int find(const char *file, char *path, size_t size, char *err, size_t errlen)
{
	const char *env = getenv("SAFEHOUSE_PLUGIN_DIR");
	char dir[PATH_MAX];

	if (env && env[0]) {
		snprintf(path, size, "%s/%s", env, file);
		if (access(path, F_OK) == 0)
			return 0;
		snprintf(err, errlen, "not found (looked in %s, from $SAFEHOUSE_PLUGIN_DIR)", env);
		return -1;
	}
	if (exe_dir(dir, sizeof(dir)) == 0) {
		snprintf(path, size, "%s/%s", dir, file);
		if (access(path, F_OK) == 0)
			return 0;
	}
	snprintf(path, size, "%s/%s", SH_PLUGIN_DIR, file);
	if (access(path, F_OK) == 0)
		return 0;
	snprintf(err, errlen, "not found (looked in %s)", SH_PLUGIN_DIR);
	return -1;
}

const void *plugin_load(const char *file, const char *symbol, char *err, size_t errlen)
{
	char path[PATH_MAX + 64];
	struct loaded *slot = NULL;
	const void *vt = NULL;
	const char *const *version;
	void *h = NULL;

	for (int i = 0; i < PLUGIN_MAX; i++) {
		if (loaded[i].vtable && strcmp(loaded[i].file, file) == 0)
			return loaded[i].vtable;
		if (!loaded[i].vtable && !slot)
			slot = &loaded[i];
	}
	if (!slot || strlen(file) >= sizeof(slot->file)) {
		snprintf(err, errlen, "too many plugins");
		goto out;
	}
	if (find(file, path, sizeof(path), err, errlen) < 0)
		goto out;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "%s", dlerror());
		goto out;
	}
	vt = dlsym(h, symbol);
	if (!vt) {
		snprintf(err, errlen, "%s: no %s: not a safehouse plugin", path, symbol);
		goto out;
	}
	version = vt;
	if (!*version || strcmp(*version, SH_VERSION) != 0) {
		snprintf(err, errlen, "%s is from safehouse %s, this daemon is %s", path,
		         *version ? *version : "?", SH_VERSION);
		vt = NULL;
		goto out;
	}
	snprintf(slot->file, sizeof(slot->file), "%s", file);
	slot->vtable = vt;
out:
	/* A refused plugin is unloaded again: nothing of it was used. */
	if (!vt && h)
		dlclose(h);
	return vt;
}
