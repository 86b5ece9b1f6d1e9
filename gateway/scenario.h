/*
 * scenario.h: scenario tests of a site's rules on a virtual clock
 * (safehoused -c CONFIG --test FILE.scenario...).
 *
 * Each scenario runs the real engine, panel and store (an in-memory SQLite
 * database) against the config's rules, with no broker: readings, mode
 * changes, acknowledgments, silences and resets are injected at virtual
 * times, and what the panel did (alarms, sirens, alerts, notifications,
 * outputs, mode) is recorded and compared with the expectations. An hour of
 * scenario runs in milliseconds. The format is in rules/README.md.
 */
#ifndef SH_SCENARIO_H
#define SH_SCENARIO_H

#include <stdio.h>

struct config;

/* Run every scenario of every file against cfg (compiling its rules once
 * per scenario, so that no state leaks between scenarios). Prints one line
 * per scenario and a final "N passed, N failed" line to out; parse errors
 * go to err as FILE:LINE:COL: message. Returns the number of failed
 * scenarios plus files that did not parse (0: all passed). */
int scenario_run_files(const struct config *cfg, const char *const *files, int nfiles, FILE *out,
                       FILE *err);

#endif
