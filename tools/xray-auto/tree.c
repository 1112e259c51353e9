#define _GNU_SOURCE
#include "tree.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonget.h"

#define XT_NONE SIZE_MAX
/* Indentation stops growing here so a long parent chain stays readable. */
#define XT_MAX_INDENT_LEVEL 40u
#define XT_MAX_TEXT_BYTES 160u

struct xt_node {
	const cJSON *obj;
	const char *id;
	size_t parent;		/* XT_NONE for a root */
	size_t kid_off;		/* children: kids[kid_off .. kid_off+nkids) */
	size_t nkids;
	double start;
	bool doc_root;
	bool segment;		/* document root without "type":"subsegment" */
	bool orphan;
};

struct xt_tree {
	struct xt_node *nodes;
	size_t n;
	size_t cap;
	size_t *kids;
	size_t *by_id;		/* node indices sorted by id */
};

static void xt_tree_free(struct xt_tree *t)
{
	free(t->nodes);
	free(t->kids);
	free(t->by_id);
}

/* Recursion depth is bounded by cJSON's nesting limit. */
static int xt_tree_add(struct xt_tree *t, const cJSON *obj, size_t parent,
		       bool doc_root)
{
	const cJSON *subs, *child;
	struct xt_node *nd;
	size_t me;
	int rc;

	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 64;
		struct xt_node *nn = realloc(t->nodes, ncap * sizeof(*nn));

		if (!nn)
			return -ENOMEM;
		t->nodes = nn;
		t->cap = ncap;
	}
	me = t->n++;
	nd = &t->nodes[me];
	memset(nd, 0, sizeof(*nd));
	nd->obj = obj;
	nd->id = xt_jstr(obj, "id");
	nd->parent = parent;
	nd->doc_root = doc_root;
	nd->segment = doc_root && !xt_jstr(obj, "type");
	if (!xt_jnum(obj, "start_time", &nd->start))
		nd->start = 0;
	subs = xt_jget(obj, "subsegments");
	cJSON_ArrayForEach(child, subs) {
		if (!cJSON_IsObject(child))
			continue;
		rc = xt_tree_add(t, child, me, false);
		if (rc)
			return rc;
	}
	return 0;
}

static int xt_cmp_by_id(const void *a, const void *b, void *arg)
{
	const struct xt_node *nodes = arg;
	const char *x = nodes[*(const size_t *)a].id;
	const char *y = nodes[*(const size_t *)b].id;

	return strcmp(x ? x : "", y ? y : "");
}

/* Orders siblings by start time, then by arrival for a stable output. */
static int xt_cmp_by_start(const void *a, const void *b, void *arg)
{
	const struct xt_node *nodes = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	if (nodes[i].start < nodes[j].start)
		return -1;
	if (nodes[i].start > nodes[j].start)
		return 1;
	return i < j ? -1 : (i > j ? 1 : 0);
}

static size_t xt_find_id(const struct xt_tree *t, const char *id)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *mid_id = t->nodes[t->by_id[mid]].id;
		int c = strcmp(mid_id ? mid_id : "", id);

		if (c == 0)
			return t->by_id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return XT_NONE;
}

/* True if attaching node r under p would close a loop. */
static bool xt_is_ancestor(const struct xt_tree *t, size_t r, size_t p)
{
	size_t steps = 0;

	for (; p != XT_NONE && steps <= t->n; p = t->nodes[p].parent, steps++)
		if (p == r)
			return true;
	return false;
}

static void xt_attach_documents(struct xt_tree *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		struct xt_node *nd = &t->nodes[i];
		const char *pid;
		size_t p;

		if (!nd->doc_root)
			continue;
		pid = xt_jstr(nd->obj, "parent_id");
		if (!pid)
			continue;
		p = xt_find_id(t, pid);
		if (p != XT_NONE && !xt_is_ancestor(t, i, p))
			nd->parent = p;
		else if (!nd->segment)
			nd->orphan = true;
		/* A segment whose upstream is not in this trace is a root. */
	}
}

static int xt_build_children(struct xt_tree *t)
{
	size_t i, off = 0;
	size_t *fill;

	for (i = 0; i < t->n; i++)
		if (t->nodes[i].parent != XT_NONE)
			t->nodes[t->nodes[i].parent].nkids++;
	for (i = 0; i < t->n; i++) {
		t->nodes[i].kid_off = off;
		off += t->nodes[i].nkids;
	}
	t->kids = malloc((off ? off : 1) * sizeof(*t->kids));
	fill = calloc(t->n ? t->n : 1, sizeof(*fill));
	if (!t->kids || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (i = 0; i < t->n; i++) {
		size_t p = t->nodes[i].parent;

		if (p != XT_NONE)
			t->kids[t->nodes[p].kid_off + fill[p]++] = i;
	}
	free(fill);
	for (i = 0; i < t->n; i++)
		qsort_r(t->kids + t->nodes[i].kid_off, t->nodes[i].nkids,
			sizeof(*t->kids), xt_cmp_by_start, t->nodes);
	return 0;
}

static int xt_tree_build(struct xt_tree *t, cJSON *const *docs, size_t ndocs)
{
	size_t i;
	int rc;

	for (i = 0; i < ndocs; i++) {
		rc = xt_tree_add(t, docs[i], XT_NONE, true);
		if (rc)
			return rc;
	}
	t->by_id = malloc((t->n ? t->n : 1) * sizeof(*t->by_id));
	if (!t->by_id)
		return -ENOMEM;
	for (i = 0; i < t->n; i++)
		t->by_id[i] = i;
	qsort_r(t->by_id, t->n, sizeof(*t->by_id), xt_cmp_by_id, t->nodes);
	xt_attach_documents(t);
	return xt_build_children(t);
}

/* Writes s with control characters blanked, cut at a UTF-8 boundary. */
static void xt_put_text(FILE *out, const char *s)
{
	size_t i, n = strlen(s), cut = n;

	if (n > XT_MAX_TEXT_BYTES) {
		cut = XT_MAX_TEXT_BYTES;
		while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
			cut--;
	}
	for (i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		fputc(c < 0x20 || c == 0x7f ? ' ' : c, out);
	}
	if (cut < n)
		fputs("...", out);
}

/* Each returns whether it wrote anything. */
static bool xt_put_field(FILE *out, const char *s)
{
	if (!s)
		return false;
	fputc(' ', out);
	xt_put_text(out, s);
	return true;
}

static bool xt_put_http(FILE *out, const cJSON *http)
{
	const cJSON *req = xt_jget(http, "request");
	const cJSON *resp = xt_jget(http, "response");
	bool any = false;
	double status;

	any |= xt_put_field(out, xt_jstr(req, "method"));
	any |= xt_put_field(out, xt_jstr(req, "url"));
	if (xt_jnum(resp, "status", &status)) {
		fprintf(out, " -> %.0f", status);
		any = true;
	}
	return any;
}

/* sql wins over http (drivers may set both), aws shows the operation. */
static bool xt_put_detail(FILE *out, const cJSON *e)
{
	const cJSON *sql = xt_jget(e, "sql");
	const char *ns = xt_jstr(e, "namespace");
	bool any = false;

	if (cJSON_IsObject(sql)) {
		/* libxray-auto's own label: connect, prepare, execute (query is
		 * the common case and goes unsaid). */
		const char *op = xt_jstr(xt_jget(xt_jget(e, "metadata"), "xray_auto"),
					 "operation");
		any |= xt_put_field(out, xt_jstr(sql, "url"));
		if (op && strcmp(op, "query") != 0) {
			fprintf(out, " %s", op);
			any = true;
		}
		any |= xt_put_field(out, xt_jstr(sql, "sanitized_query"));
		return any;
	}
	if (ns && strcmp(ns, "aws") == 0)
		return xt_put_field(out, xt_jstr(xt_jget(e, "aws"), "operation"));
	if (cJSON_IsObject(xt_jget(e, "http")))
		return xt_put_http(out, xt_jget(e, "http"));
	return false;
}

static void xt_put_cause(FILE *out, const cJSON *e)
{
	const cJSON *cause = xt_jget(e, "cause");
	const cJSON *ex;
	const char *type, *msg;

	if (cJSON_IsString(cause)) {
		fputs(" (cause ", out);
		xt_put_text(out, cause->valuestring);
		fputc(')', out);
		return;
	}
	ex = cJSON_GetArrayItem(xt_jget(cause, "exceptions"), 0);
	type = xt_jstr(ex, "type");
	msg = xt_jstr(ex, "message");
	if (!type && !msg)
		return;
	fputs(" (", out);
	if (type)
		xt_put_text(out, type);
	if (type && msg)
		fputs(": ", out);
	if (msg)
		xt_put_text(out, msg);
	fputc(')', out);
}

static void xt_put_entity(FILE *out, const struct xt_node *nd)
{
	const cJSON *e = nd->obj;
	const char *ns = xt_jstr(e, "namespace");
	const char *name = xt_jstr(e, "name");
	double start = nd->start, end;

	xt_put_text(out, name ? name : "?");
	if (nd->segment)
		fputs("  [segment]", out);
	else
		fprintf(out, "  [%s]", ns && ns[0] ? ns : "subsegment");
	/* Two spaces set the duration apart from a detail part. */
	if (xt_put_detail(out, e))
		fputc(' ', out);
	if (xt_jnum(e, "end_time", &end))
		fprintf(out, " %.3f ms", (end - start) * 1000.0);
	else
		fputs(" in progress", out);
	if (xt_jtrue(e, "error"))
		fputs(" ERROR", out);
	if (xt_jtrue(e, "throttle"))
		fputs(" THROTTLE", out);
	if (xt_jtrue(e, "fault"))
		fputs(" FAULT", out);
	xt_put_cause(out, e);
	fputc('\n', out);
}

struct xt_frame {
	size_t node;
	size_t depth;
};

/* Iterative so that a long chain of parent links cannot exhaust the stack. */
static void xt_print_subtree(FILE *out, const struct xt_tree *t, size_t root,
			     size_t depth, struct xt_frame *stack)
{
	size_t sp = 0, k;

	stack[sp++] = (struct xt_frame){ root, depth };
	while (sp > 0) {
		struct xt_frame f = stack[--sp];
		const struct xt_node *nd = &t->nodes[f.node];
		size_t lvl = f.depth < XT_MAX_INDENT_LEVEL ? f.depth :
							      XT_MAX_INDENT_LEVEL;

		fprintf(out, "%*s", (int)(2 * lvl), "");
		if (f.depth > lvl)
			fprintf(out, "[depth %zu] ", f.depth);
		if (nd->orphan)
			fprintf(out, "(orphan, parent %s) ",
				xt_jstr(nd->obj, "parent_id"));
		xt_put_entity(out, nd);
		/* Reverse push so the first child is printed first. */
		for (k = nd->nkids; k > 0; k--)
			stack[sp++] = (struct xt_frame){
				t->kids[nd->kid_off + k - 1], f.depth + 1 };
	}
}

int xt_print_trace(FILE *out, const char *trace_id, cJSON *const *docs,
		   size_t ndocs, size_t dropped, bool unfinished)
{
	struct xt_tree t = { 0 };
	struct xt_frame *stack = NULL;
	size_t *roots = NULL, nroots = 0, i, pass;
	int rc;

	rc = xt_tree_build(&t, docs, ndocs);
	if (rc)
		goto out;
	stack = malloc((t.n ? t.n : 1) * sizeof(*stack));
	roots = malloc((t.n ? t.n : 1) * sizeof(*roots));
	if (!stack || !roots) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < t.n; i++)
		if (t.nodes[i].parent == XT_NONE)
			roots[nroots++] = i;
	qsort_r(roots, nroots, sizeof(*roots), xt_cmp_by_start, t.nodes);
	fprintf(out, "trace %s%s\n", trace_id, unfinished ? " (unfinished)" : "");
	/* Attached entities first, orphans at the end of the trace. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < nroots; i++)
			if (t.nodes[roots[i]].orphan == (pass == 1))
				xt_print_subtree(out, &t, roots[i], 1, stack);
	if (dropped)
		fprintf(out, "  (%zu more documents dropped: per-trace limit)\n",
			dropped);
	rc = 0;
out:
	if (rc == -ENOMEM)
		fprintf(out, "trace %s: out of memory, %zu documents not shown\n",
			trace_id, ndocs);
	if (fflush(out) == EOF || ferror(out)) {
		clearerr(out);
		if (!rc)
			rc = -EIO;
	}
	free(stack);
	free(roots);
	xt_tree_free(&t);
	return rc;
}
