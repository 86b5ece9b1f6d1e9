/*
 * report_html.h: the compliance report as one self-contained printable
 * HTML page (A4, no external fonts or scripts), from the JSON report that
 * compliance_report() builds (gateway/compliance.h, docs/compliance.md).
 */
#ifndef SH_REPORT_HTML_H
#define SH_REPORT_HTML_H

#include <stdio.h>

struct cJSON;

/* Write the page for report to out. The report is only read. Returns 0, or
 * -1 on a write error. */
int report_html(const struct cJSON *report, FILE *out);

#endif
