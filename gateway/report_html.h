/*
 * report_html.h: the compliance report (the cJSON object that
 * compliance.c builds) as one self-contained printable HTML page: A4 print
 * CSS, system fonts only, inline SVG charts, no script, no link, no URL of
 * its own. Vietnamese by default, English when the object's "language" is
 * "en".
 *
 * Any field may be missing, null or of the wrong type: it is rendered as
 * "—" (or the section says it has nothing), never a crash. Every string
 * from the object is HTML-escaped (and bytes that are not UTF-8 become
 * U+FFFD), so a zone named "<script>" is text on the page.
 */
#ifndef SH_REPORT_HTML_H
#define SH_REPORT_HTML_H

#include <stdio.h>

struct cJSON;

/* Write the page for report to out. The caller owns both; nothing is kept.
 * Returns 0, or -1 when report is NULL or not a JSON object, out is NULL,
 * or writing to out failed (ferror). */
int report_html(const struct cJSON *report, FILE *out);

#endif
