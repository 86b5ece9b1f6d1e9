/*
 * bench_libfloor: the libraries' own share of safehoused's resident memory
 * (issue 16: "say what the floor of it is"). It links the libraries the
 * daemon itself links (not the plugins it loads only when configured),
 * makes each of them do once what the daemon makes it do at start (an MQTT
 * client, a JSON document, a SQLite database in WAL mode with a committed
 * row, libsodium, a Modbus context, a SHA-256 through nettle, a thread),
 * and prints its RSS from /proc/self/status. What safehoused has above this
 * is its own: its code, its tables and its buffers.
 *
 * usage: bench_libfloor DIR     (DIR: where the throwaway database goes)
 */
#include <cjson/cJSON.h>
#include <modbus.h>
#include <mosquitto.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long status_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ':')
			v = strtol(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

static void *idle_thread(void *arg)
{
	/* The store's writer: a thread with its own malloc arena. */
	void *p = malloc(4096);
	memset(p, 1, 4096);
	free(p);
	return arg;
}

int main(int argc, char **argv)
{
	char path[4096];
	sqlite3 *db = NULL;
	struct mosquitto *m;
	modbus_t *mb;
	cJSON *j;
	struct sha256_ctx c;
	unsigned char h[SHA256_DIGEST_SIZE];
	pthread_t t;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: bench_libfloor DIR\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/libfloor.db", argv[1]);
	if (sodium_init() < 0)
		return 1;
	mosquitto_lib_init();
	if (!(m = mosquitto_new("libfloor", true, NULL)))
		goto out;
	j = cJSON_Parse("{\"smoke\":false,\"battery\":97,\"linkquality\":120}");
	cJSON_Delete(j);
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	                 "CREATE TABLE IF NOT EXISTS t(a INTEGER PRIMARY KEY, b TEXT);"
	                 "CREATE INDEX IF NOT EXISTS t_b ON t(b);"
	                 "BEGIN; INSERT INTO t(b) VALUES('x'); COMMIT;",
	                 NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	if ((mb = modbus_new_tcp("127.0.0.1", 502)))
		modbus_free(mb);
	sha256_init(&c);
	sha256_update(&c, 3, (const unsigned char *)"abc");
	sha256_digest(&c, sizeof(h), h);
	if (pthread_create(&t, NULL, idle_thread, NULL) == 0)
		pthread_join(t, NULL);
	printf("libfloor VmRSS %ld kB RssAnon %ld kB RssFile %ld kB\n", status_kb("VmRSS"),
	       status_kb("RssAnon"), status_kb("RssFile"));
	rc = 0;
out:
	if (db)
		sqlite3_close(db);
	mosquitto_destroy(m);
	mosquitto_lib_cleanup();
	unlink(path);
	return rc;
}
