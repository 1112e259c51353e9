#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"
#include "tree.h"

struct xt_trace {
	char id[36];		/* validated trace ids are 35 characters */
	cJSON **docs;
	size_t ndocs;
	size_t cap;
	size_t dropped;
	double last;		/* monotonic time of the latest document */
	bool complete;		/* holds a segment document with end_time */
};

/* Traces in order of first arrival, so output order is predictable. */
struct xt_store {
	struct xt_trace **v;
	size_t n;
	size_t cap;
};

struct xt_store *xt_store_new(void)
{
	return calloc(1, sizeof(struct xt_store));
}

static void xt_trace_free(struct xt_trace *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->ndocs; i++)
		cJSON_Delete(t->docs[i]);
	free(t->docs);
	free(t);
}

void xt_store_free(struct xt_store *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++)
		xt_trace_free(s->v[i]);
	free(s->v);
	free(s);
}

static struct xt_trace *xt_store_get(struct xt_store *s, const char *tid)
{
	struct xt_trace *t;
	size_t i;

	for (i = s->n; i > 0; i--)
		if (strcmp(s->v[i - 1]->id, tid) == 0)
			return s->v[i - 1];
	if (strlen(tid) >= sizeof(t->id))
		return NULL;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		struct xt_trace **nv = realloc(s->v, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		s->v = nv;
		s->cap = ncap;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	strcpy(t->id, tid);
	s->v[s->n++] = t;
	return t;
}

static bool xt_doc_complete(const cJSON *doc)
{
	double end;

	return xt_jnum(doc, "end_time", &end);
}

int xt_store_add(struct xt_store *s, cJSON *doc, double now)
{
	const char *tid = xt_jstr(doc, "trace_id");
	const char *id = xt_jstr(doc, "id");
	struct xt_trace *t;
	size_t i;
	int rc = 0;

	if (!tid || !id) {
		rc = -EINVAL;
		goto out;
	}
	t = xt_store_get(s, tid);
	if (!t) {
		rc = -ENOMEM;
		goto out;
	}
	t->last = now;
	if (!xt_jstr(doc, "type") && xt_doc_complete(doc))
		t->complete = true;
	for (i = 0; i < t->ndocs; i++) {
		const char *old_id = xt_jstr(t->docs[i], "id");

		if (!old_id || strcmp(old_id, id) != 0)
			continue;
		/* UDP may reorder: a late in-progress copy must not win. */
		if (xt_doc_complete(t->docs[i]) && !xt_doc_complete(doc))
			goto out;
		cJSON_Delete(t->docs[i]);
		t->docs[i] = doc;
		return 0;
	}
	if (t->ndocs >= XT_MAX_DOCS_PER_TRACE) {
		t->dropped++;
		goto out;
	}
	if (t->ndocs == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 8;
		cJSON **nd = realloc(t->docs, ncap * sizeof(*nd));

		if (!nd) {
			rc = -ENOMEM;
			goto out;
		}
		t->docs = nd;
		t->cap = ncap;
	}
	t->docs[t->ndocs++] = doc;
	return 0;
out:
	cJSON_Delete(doc);
	return rc;
}

static void xt_store_remove(struct xt_store *s, size_t i, FILE *out)
{
	struct xt_trace *t = s->v[i];

	if (out)
		xt_print_trace(out, t->id, t->docs, t->ndocs, t->dropped,
			       !t->complete);
	xt_trace_free(t);
	memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
	s->n--;
}

size_t xt_store_flush(struct xt_store *s, double now, double quiet_s, bool all,
		      FILE *out)
{
	size_t i = 0, done = 0;

	while (i < s->n) {
		struct xt_trace *t = s->v[i];

		if (all || (t->complete && now - t->last >= quiet_s)) {
			xt_store_remove(s, i, out);
			done++;
		} else {
			i++;
		}
	}
	while (s->n > XT_MAX_LIVE_TRACES) {
		size_t oldest = 0;

		for (i = 1; i < s->n; i++)
			if (s->v[i]->last < s->v[oldest]->last)
				oldest = i;
		xt_store_remove(s, oldest, out);
		done++;
	}
	return done;
}
