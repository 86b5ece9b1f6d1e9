/*
 * test_webhook.c: what an installer writing a webhook step relies on: the
 * presets' requests (URL, body, escaping), and config errors that say what
 * is wrong where, the token rule (a literal token needs mode 0600) included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gateway/config.h"
#include "gateway/webhook.h"

#define MAX_DIAGS 32

struct diags {
	int n, errors;
	char msg[MAX_DIAGS][1024];
};

static void capture(void *ctx, int severity, const char *msg)
{
	struct diags *d = ctx;

	if (severity == 0)
		d->errors++;
	if (d->n < MAX_DIAGS)
		snprintf(d->msg[d->n++], sizeof(d->msg[0]), "[%d] %s", severity, msg);
}

/* msg must be one of the diagnostics; shows them all when it is not. */
static void expect(const struct diags *d, const char *msg)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->msg[i], msg) == 0)
			return;
	for (int i = 0; i < d->n; i++)
		print_message("  got %s\n", d->msg[i]);
	fail_msg("expected %s", msg);
}

#define HEAD                                                                                       \
	"{\n"                                                                                      \
	"  \"site\": {\"id\": \"nt-ap3\", \"name\": \"Nhà trọ\"},\n"                            \
	"  \"zones\": [{\"id\": \"hall\", \"name\": \"Sảnh \\\"A\\\"\"}],\n"

static struct config *load(const char *contacts, struct diags *d)
{
	char text[4096];
	int nerrors = -1;
	struct config *c;

	snprintf(text, sizeof(text), HEAD "  \"contacts\": [%s]\n}\n", contacts);
	memset(d, 0, sizeof(*d));
	c = config_load_string(text, "site.json", NULL, capture, d, &nerrors);
	assert_int_equal(nerrors, d->errors);
	return c;
}

/* The request for the first step of the first contact. */
static int render(const struct config *c, const char *text, const char *zone, char **url,
                  char **body, const char **ctype, char *err, size_t errlen)
{
	const struct channel_msg m = {.seq = 42,
	                              .contact = &c->contacts[0],
	                              .step = &c->contacts[0].steps[0],
	                              .kind = "alert",
	                              .text = text,
	                              .payload = "{\"class\":\"fire\",\"seq\":42}",
	                              .alarm = 7,
	                              .zone = zone};
	return webhook_render(c, &m, url, body, ctype, err, errlen);
}

static void test_telegram_posts_chat_id_and_text_to_the_bot_url(void **state)
{
	struct diags d;
	struct config *c =
	    load("{\"id\": \"owner\", \"via\": \"webhook\", \"preset\": \"telegram\", "
	         "\"chat_id\": -1001234, \"token\": \"123:ABC\"}",
	         &d);
	char *url, *body, err[160];
	const char *ctype;
	cJSON *j;

	(void)state;
	assert_non_null(c);
	assert_int_equal(
	    render(c, "Cháy \"phòng\" 101\nngay", NULL, &url, &body, &ctype, err, sizeof(err)), 0);
	assert_string_equal(url, "https://api.telegram.org/bot123:ABC/sendMessage");
	assert_string_equal(ctype, "application/json");
	j = cJSON_Parse(body);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "chat_id")->valuestring, "-1001234");
	assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring,
	                    "Cháy \"phòng\" 101\nngay");
	cJSON_Delete(j);
	free(url);
	free(body);
	config_free(c);
}

static void test_a_preset_url_replaces_the_base(void **state)
{
	struct diags d;
	struct config *c =
	    load("{\"id\": \"owner\", \"via\": \"webhook\", \"preset\": \"telegram\", "
	         "\"url\": \"https://127.0.0.1:8443/\", "
	         "\"chat_id\": \"@house\", \"token\": \"123:ABC\"}",
	         &d);
	char *url, *body, err[160];
	const char *ctype;

	(void)state;
	assert_non_null(c);
	assert_int_equal(render(c, "x", NULL, &url, &body, &ctype, err, sizeof(err)), 0);
	assert_string_equal(url, "https://127.0.0.1:8443/bot123:ABC/sendMessage");
	free(url);
	free(body);
	config_free(c);
}

static void test_zalo_writes_to_the_oa_message_api(void **state)
{
	struct diags d;
	struct config *c = load("{\"id\": \"owner\", \"via\": \"webhook\", \"preset\": \"zalo\", "
	                        "\"user_id\": \"2468\", \"token\": \"zalo-token\"}",
	                        &d);
	char *url, *body, err[160];
	const char *ctype;

	(void)state;
	assert_non_null(c);
	assert_int_equal(render(c, "Cháy", NULL, &url, &body, &ctype, err, sizeof(err)), 0);
	assert_string_equal(url, "https://openapi.zalo.me/v3.0/oa/message/cs");
	assert_string_equal(
	    body, "{\"recipient\":{\"user_id\":\"2468\"},\"message\":{\"text\":\"Cháy\"}}");
	free(url);
	free(body);
	config_free(c);
}

static void test_ntfy_posts_the_text_as_it_is(void **state)
{
	struct diags d;
	struct config *c = load("{\"id\": \"owner\", \"via\": \"webhook\", \"preset\": \"ntfy\", "
	                        "\"url\": \"https://ntfy.sh/house\"}",
	                        &d);
	char *url, *body, err[160];
	const char *ctype;

	(void)state;
	assert_non_null(c);
	assert_int_equal(render(c, "Cháy \"A\"", NULL, &url, &body, &ctype, err, sizeof(err)), 0);
	assert_string_equal(url, "https://ntfy.sh/house");
	assert_string_equal(body, "Cháy \"A\"");
	assert_string_equal(ctype, "text/plain; charset=utf-8");
	free(url);
	free(body);
	config_free(c);
}

static void test_generic_template_escapes_every_value(void **state)
{
	struct diags d;
	struct config *c =
	    load("{\"id\": \"owner\", \"via\": \"webhook\", \"url\": \"https://x.example/h\", "
	         "\"template\": \"{\\\"t\\\": \\\"${text}\\\", \\\"z\\\": \\\"${zone_name}\\\", "
	         "\\\"c\\\": \\\"${class}\\\", \\\"s\\\": \\\"${site}\\\", \\\"n\\\": ${seq}, "
	         "\\\"a\\\": ${alarm}}\"}",
	         &d);
	char *url, *body, err[160];
	const char *ctype;

	(void)state;
	assert_non_null(c);
	assert_int_equal(render(c, "a\"b\\c\n", "hall", &url, &body, &ctype, err, sizeof(err)), 0);
	assert_string_equal(body, "{\"t\": \"a\\\"b\\\\c\\n\", \"z\": \"Sảnh \\\"A\\\"\", "
	                          "\"c\": \"fire\", \"s\": \"Nhà trọ\", \"n\": 42, \"a\": 7}");
	free(url);
	free(body);
	config_free(c);
}

static void test_generic_without_template_posts_the_payload(void **state)
{
	struct diags d;
	struct config *c =
	    load("{\"id\": \"owner\", \"via\": \"webhook\", \"url\": \"https://x.example/h\"}", &d);
	char *url, *body, err[160];
	const char *ctype;

	(void)state;
	assert_non_null(c);
	assert_int_equal(render(c, "x", NULL, &url, &body, &ctype, err, sizeof(err)), 0);
	assert_string_equal(body, "{\"class\":\"fire\",\"seq\":42}");
	free(url);
	free(body);
	config_free(c);
}

static void test_a_credentials_token_without_a_credentials_file_fails_clearly(void **state)
{
	struct diags d;
	struct config *c =
	    load("{\"id\": \"owner\", \"via\": \"webhook\", \"preset\": \"telegram\", "
	         "\"chat_id\": 1, \"token\": \"credentials:telegram\"}",
	         &d);
	char *url, *body, err[160];
	const char *ctype;

	(void)state;
	assert_non_null(c);
	assert_int_equal(render(c, "x", NULL, &url, &body, &ctype, err, sizeof(err)), -1);
	assert_string_equal(err, "token \"credentials:telegram\": credentials file not configured "
	                         "or has no such name");
	config_free(c);
}

static void test_step_mistakes_are_reported_where_they_are(void **state)
{
	struct diags d;
	struct config *c = load(
	    "\n"
	    "  {\"id\": \"a\", \"via\": \"webhook\", \"preset\": \"telgram\"},\n"
	    "  {\"id\": \"b\", \"via\": \"webhook\", \"preset\": \"telegram\", \"token\": "
	    "\"1:x\"},\n"
	    "  {\"id\": \"c\", \"via\": \"webhook\", \"preset\": \"zalo\", \"user_id\": \"1\"},\n"
	    "  {\"id\": \"d\", \"via\": \"webhook\", \"preset\": \"ntfy\"},\n"
	    "  {\"id\": \"e\", \"via\": \"webhook\", \"url\": \"https://x.example\", "
	    "\"template\": \"${txt}\"},\n"
	    "  {\"id\": \"f\", \"via\": \"webhook\", \"url\": \"https://x.example\", "
	    "\"cafile\": \"ca.pem\", \"timeout_s\": 0},\n"
	    "  {\"id\": \"g\", \"via\": \"webhook\", \"url\": \"https://x.example\", "
	    "\"chat_ib\": 1}\n",
	    &d);

	(void)state;
	assert_null(c);
	expect(&d, "[0] site.json:5:43: contacts[0].preset: unknown preset \"telgram\"; did you "
	           "mean \"telegram\"?");
	expect(&d, "[0] site.json:6:3: contacts[1]: missing key \"chat_id\": the Telegram chat to "
	           "write to (send the bot a message, then read it from getUpdates)");
	expect(&d, "[0] site.json:7:3: contacts[2]: missing key \"token\": the Zalo OA access "
	           "token, or \"credentials:NAME\"");
	expect(&d, "[0] site.json:8:3: contacts[3]: missing key \"url\": an ntfy step needs its "
	           "topic URL, e.g. \"https://ntfy.sh/my-house-alarms\"");
	expect(&d, "[0] site.json:9:73: contacts[4].template: unknown variable ${txt}; did you "
	           "mean ${text}?");
	expect(&d, "[0] site.json:10:71: contacts[5].cafile: must be an absolute path");
	expect(&d, "[0] site.json:10:94: contacts[5].timeout_s: expected a whole number from 1 to "
	           "120 seconds");
	expect(&d, "[0] site.json:11:61: contacts[6].chat_ib: unknown key; did you mean "
	           "\"chat_id\"?");
	assert_int_equal(d.errors, 8);
}

static void test_a_camera_needs_a_valid_url(void **state)
{
	const char *text = "{\n"
	                   "  \"site\": {\"id\": \"s\"},\n"
	                   "  \"zones\": [{\"id\": \"hall\", \"camera\": {\"snapshot_url\": "
	                   "\"rtsp://cam\", \"password\": \"p\", \"auth\": \"digets\"}}]\n"
	                   "}\n";
	struct diags d = {0};
	int nerrors;
	struct config *c = config_load_string(text, "site.json", NULL, capture, &d, &nerrors);

	(void)state;
	assert_null(c);
	expect(&d, "[0] site.json:3:55: zones[0].camera.snapshot_url: invalid URL \"rtsp://cam\": "
	           "must start with http:// or https://");
	expect(&d, "[0] site.json:3:94: zones[0].camera.auth: unknown camera auth \"digets\"; did "
	           "you mean \"digest\"?");
	expect(&d, "[0] site.json:3:69: zones[0].camera.password: a password needs a username: "
	           "the camera is sent none without one");
}

static char tmpdir[PATH_MAX];

static struct config *load_file(const char *text, mode_t mode, struct diags *d)
{
	char path[PATH_MAX + 16];
	FILE *f;
	int nerrors;

	snprintf(path, sizeof(path), "%s/site.json", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	memset(d, 0, sizeof(*d));
	return config_load(path, capture, d, &nerrors);
}

static const char token_config[] =
    "{\n"
    "  \"site\": {\"id\": \"s\"},\n"
    "  \"zones\": [{\"id\": \"hall\", \"camera\": {\"snapshot_url\": \"http://cam/snap.jpg\",\n"
    "              \"username\": \"admin\", \"password\": \"cam\", \"auth\": \"digest\"}}],\n"
    "  \"contacts\": [{\"id\": \"owner\", \"steps\": [{\"via\": \"webhook\", \"preset\": "
    "\"telegram\", \"chat_id\": 1, \"token\": \"1:SECRET\"}]}]\n"
    "}\n";

static void test_a_token_in_a_file_others_can_read_is_refused(void **state)
{
	struct diags d;
	struct config *c = load_file(token_config, 0644, &d);
	char want[PATH_MAX + 512];
	int seen = 0;

	(void)state;
	assert_null(c);
	assert_int_equal(d.errors, 2);
	snprintf(want, sizeof(want),
	         "contacts[0].steps[0].token: this file holds a token but is readable by group "
	         "or others (mode 0644); run: chmod 600 %s/site.json",
	         tmpdir);
	for (int i = 0; i < d.n; i++) {
		if (strstr(d.msg[i], want))
			seen |= 1;
		if (strstr(d.msg[i], "zones[0].camera.password: this file holds a password"))
			seen |= 2;
	}
	assert_int_equal(seen, 3);

	c = load_file(token_config, 0600, &d);
	assert_non_null(c);
	assert_string_equal(c->zones[0].camera.snapshot_url, "http://cam/snap.jpg");
	assert_string_equal(c->zones[0].camera.username, "admin");
	assert_int_equal(c->zones[0].camera.digest, 1);
	config_free(c);
}

static void test_a_credentials_reference_is_not_a_secret_in_the_file(void **state)
{
	struct diags d;
	struct config *c = load_file("{\n"
	                             "  \"site\": {\"id\": \"s\"},\n"
	                             "  \"zones\": [{\"id\": \"hall\"}],\n"
	                             "  \"contacts\": [{\"id\": \"owner\", \"via\": \"webhook\", "
	                             "\"preset\": \"telegram\", \"chat_id\": 1, "
	                             "\"token\": \"credentials:telegram\"}]\n"
	                             "}\n",
	                             0644, &d);

	(void)state;
	assert_non_null(c);
	config_free(c);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_webhook.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char path[PATH_MAX + 16];

	(void)state;
	snprintf(path, sizeof(path), "%s/site.json", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_telegram_posts_chat_id_and_text_to_the_bot_url),
	    cmocka_unit_test(test_a_preset_url_replaces_the_base),
	    cmocka_unit_test(test_zalo_writes_to_the_oa_message_api),
	    cmocka_unit_test(test_ntfy_posts_the_text_as_it_is),
	    cmocka_unit_test(test_generic_template_escapes_every_value),
	    cmocka_unit_test(test_generic_without_template_posts_the_payload),
	    cmocka_unit_test(test_a_credentials_token_without_a_credentials_file_fails_clearly),
	    cmocka_unit_test(test_step_mistakes_are_reported_where_they_are),
	    cmocka_unit_test(test_a_camera_needs_a_valid_url),
	    cmocka_unit_test(test_a_token_in_a_file_others_can_read_is_refused),
	    cmocka_unit_test(test_a_credentials_reference_is_not_a_secret_in_the_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
