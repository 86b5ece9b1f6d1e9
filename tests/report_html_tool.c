/*
 * report_html_tool.c: the HTML report (gateway/report_html.c) of a JSON
 * file, without the daemon, for tests/blackbox/test_report_html.py.
 *
 *   report_html_tool REPORT.json [OUT.html]
 *
 * Writes the page to OUT.html (stdout without it). Exits 0 when the page
 * was written, 1 when the file cannot be read or report_html() refused.
 */
#include "gateway/report_html.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	if (!f)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			char *nb = realloc(buf, cap ? cap * 2 : 8192);
			if (!nb) {
				free(buf);
				buf = NULL;
				goto out;
			}
			buf = nb;
			cap = cap ? cap * 2 : 8192;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
		goto out;
	}
	buf[len] = '\0';
out:
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	char *text = NULL;
	cJSON *report = NULL;
	FILE *out = stdout;
	int rc = 1;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: report_html_tool REPORT.json [OUT.html]\n");
		return 2;
	}
	if (!(text = slurp(argv[1]))) {
		fprintf(stderr, "report_html_tool: %s: %s\n", argv[1], strerror(errno));
		goto out;
	}
	if (!(report = cJSON_Parse(text))) {
		fprintf(stderr, "report_html_tool: %s: not JSON\n", argv[1]);
		goto out;
	}
	if (argc == 3 && !(out = fopen(argv[2], "w"))) {
		fprintf(stderr, "report_html_tool: %s: %s\n", argv[2], strerror(errno));
		goto out;
	}
	if (report_html(report, out) != 0) {
		fprintf(stderr, "report_html_tool: report_html failed\n");
		goto out;
	}
	rc = 0;
out:
	if (out && out != stdout && fclose(out) != 0)
		rc = 1;
	cJSON_Delete(report);
	free(text);
	return rc;
}
