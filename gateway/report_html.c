/*
 * report_html.c: PLACEHOLDER. The HTML rendering work replaces this file
 * entirely (the page with its inline SVG chart); until then the page is the
 * JSON report in a <pre>, escaped, so that `safehousectl report --format
 * html` already gives a readable, self-contained file.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "report_html.h"

int report_html(const cJSON *report, FILE *out)
{
	char *text = cJSON_Print(report);
	if (!text)
		return -1;
	fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>safehouse report"
	      "</title></head><body><pre>",
	      out);
	for (const char *p = text; *p; p++) {
		if (*p == '<')
			fputs("&lt;", out);
		else if (*p == '>')
			fputs("&gt;", out);
		else if (*p == '&')
			fputs("&amp;", out);
		else
			fputc(*p, out);
	}
	fputs("</pre></body></html>\n", out);
	free(text);
	return ferror(out) ? -1 : 0;
}
