/*
 * discover.h: the installer's tools on zigbee2mqtt's retained
 * BASE/bridge/devices (safehousectl discover, safehousectl check-devices).
 *
 * They run in safehousectl, without the daemon: they read the broker and
 * the config file, never the daemon's state. discover proposes a sensor or
 * output entry for every paired device the config does not have yet (kind,
 * power and siren form from the device's exposes, zone from its friendly
 * name), writes them as a fragment to add to the config (-o) or into the
 * config itself (--merge: only insertions, the entries already there stay
 * byte for byte; checked by the real loader before anything is written, the
 * file's owner and mode kept); check-devices warns where
 * a configured sensor's device does not expose what its kind reads, or a
 * siren's form is not the one its device accepts.
 */
#ifndef SH_DISCOVER_H
#define SH_DISCOVER_H

struct discover_opts {
	const char *config; /* -c FILE, or NULL */
	const char *broker; /* --broker HOST[:PORT], or NULL: the config's, else 127.0.0.1:1883 */
	const char *base;   /* --base, or NULL: "zigbee2mqtt" */
	const char *output; /* -o FILE, or NULL */
	const char *zone;   /* --zone: for devices whose name gives none, or NULL */
	int merge;          /* --merge: into the config (-o: into that file instead) */
	int timeout_ms;     /* how long to wait for the retained message */
};

/* safehousectl discover. Returns the exit status: 0 done, 1 nothing
 * written because the result would not be a valid config (or a write
 * failed), 2 usage, broker or payload problem (message on stderr). */
int discover_run(const struct discover_opts *o);

/* safehousectl check-devices. Returns 0 when every device matches, 1 when
 * a warning was printed, 2 on a usage, config, broker or payload problem. */
int discover_check_devices(const struct discover_opts *o);

#endif
