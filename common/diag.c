/*
 * diag.c: the diagnostics collector (diag.h).
 */
#include "diag.h"

#include <stdlib.h>

void diag_add(struct diag_list *dl, int file, int line, int col, int severity, char *msg)
{
	if (severity == 0)
		dl->nerrors++;
	else
		dl->nwarnings++;
	if (!msg) {
		dl->oom = 1;
		return;
	}
	if (dl->n == dl->cap) {
		size_t cap = dl->cap ? dl->cap * 2 : 16;
		struct diag *v = realloc(dl->v, cap * sizeof(*v));
		if (!v) {
			dl->oom = 1;
			free(msg);
			return;
		}
		dl->v = v;
		dl->cap = cap;
	}
	dl->v[dl->n] = (struct diag){file, line, col, severity, dl->n, msg};
	dl->n++;
}

static int diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;

	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void diag_flush(struct diag_list *dl, diag_fn fn, void *ctx)
{
	if (dl->n)
		qsort(dl->v, dl->n, sizeof(*dl->v), diag_cmp);
	for (size_t i = 0; i < dl->n; i++) {
		if (fn)
			fn(ctx, dl->v[i].severity, dl->v[i].msg);
		free(dl->v[i].msg);
	}
	free(dl->v);
	dl->v = NULL;
	dl->n = dl->cap = 0;
}
