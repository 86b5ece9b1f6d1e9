/*
 * plugin.h: the parts of safehoused that need heavy libraries, loaded with
 * dlopen(3) only when the config uses them, so that a house without them
 * never maps those libraries (about 9 MB of resident memory, README
 * "Memory"):
 *
 *   safehouse-web.so      the owner's panel (gateway/wpanel.c, common/web.c,
 *                         common/webcert.c: libmicrohttpd, GnuTLS),
 *                         exports "wpanel_plugin" (wpanel.h)
 *   safehouse-webhook.so  webhook contacts and camera snapshots
 *                         (gateway/webhook_http.c: libcurl), exports
 *                         "webhook_plugin" (webhook.h)
 *
 * Each exports one const vtable whose first member is the version of its
 * build (const char *version == SH_VERSION): a plugin left from another
 * build is refused, as its calls back into the daemon (loop, log, config,
 * commands, status) assume this build's structures. safehoused exports
 * exactly the symbols the plugins use (CMakeLists.txt makes the list from
 * the plugins' undefined symbols).
 *
 * Where: the directory named by $SAFEHOUSE_PLUGIN_DIR when it is set (the
 * tests), else the running executable's directory when the file is there
 * (a build tree: build/safehoused beside build/safehouse-web.so), else
 * SH_PLUGIN_DIR, compiled in (the install's libdir/safehouse).
 *
 * A plugin is opened with RTLD_NOW (a missing symbol is an error here, not
 * a crash at its first call) and stays loaded until the process ends: a
 * vtable handed out is never unmapped under its user. Loop thread only.
 */
#ifndef SH_PLUGIN_H
#define SH_PLUGIN_H

#include <stddef.h>

/* The file names. */
#define PLUGIN_WEB "safehouse-web.so"
#define PLUGIN_WEBHOOK "safehouse-webhook.so"

/* The vtable symbol of file (PLUGIN_WEB, PLUGIN_WEBHOOK), loading it on the
 * first call. NULL with err set when it cannot be had: "not found (looked
 * in /usr/lib/x86_64-linux-gnu/safehouse)", dlerror()'s text, or "from
 * safehouse 0.1.0, this daemon is 0.2.0". A failure is not remembered: the
 * next call tries again (a reload after the package was repaired). */
const void *plugin_load(const char *file, const char *symbol, char *err, size_t errlen);

#endif
