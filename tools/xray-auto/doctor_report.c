/*
 * The report of `xray-auto doctor` on one file (and on the file it leads
 * to: interpreter, real program, helper) and its two forms: indented text
 * for people, JSON for scripts. The JSON keys are an interface.
 */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

void xt_oom(void)
{
	fputs(XT_DOC_PREFIX "out of memory\n", stderr);
	exit(XT_ERROR);
}

char *xt_strdup(const char *s)
{
	char *d = strdup(s ? s : "");

	if (!d)
		xt_oom();
	return d;
}

static char *xt_vfmt(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

static char *xt_vfmt(const char *fmt, va_list ap)
{
	char *s;

	if (vasprintf(&s, fmt, ap) < 0)
		xt_oom();
	return s;
}

char *xt_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xt_vfmt(fmt, ap);
	va_end(ap);
	return s;
}

FILE *xt_memstream(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (!f)
		xt_oom();
	return f;
}

void xt_memstream_close(FILE *f)
{
	if (fclose(f))
		xt_oom();
}

struct xt_report *xt_report_new(const char *name, const char *path)
{
	struct xt_report *r = calloc(1, sizeof(*r));

	if (!r)
		xt_oom();
	r->name = xt_strdup(name);
	r->path = xt_strdup(path);
	return r;
}

void xt_report_free(struct xt_report *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->nnotes; i++) {
		free(r->notes[i].topic);
		free(r->notes[i].text);
	}
	for (i = 0; i < r->nclients; i++) {
		free(r->clients[i].name);
		free(r->clients[i].path);
		free(r->clients[i].needed_by);
	}
	free(r->notes);
	free(r->clients);
	free(r->name);
	free(r->path);
	free(r->verdict);
	xt_report_free(r->inner);
	free(r);
}

void xt_note(struct xt_report *r, const char *topic, const char *fmt, ...)
{
	struct xt_note *n;
	va_list ap;

	n = realloc(r->notes, (r->nnotes + 1) * sizeof(*n));
	if (!n)
		xt_oom();
	r->notes = n;
	n = &r->notes[r->nnotes++];
	n->topic = xt_strdup(topic);
	va_start(ap, fmt);
	n->text = xt_vfmt(fmt, ap);
	va_end(ap);
}

void xt_verdict(struct xt_report *r, enum xt_status st, const char *fmt, ...)
{
	va_list ap;

	free(r->verdict);
	r->status = st;
	va_start(ap, fmt);
	r->verdict = xt_vfmt(fmt, ap);
	va_end(ap);
}

struct xt_client *xt_add_client(struct xt_report *r, enum xt_fam fam,
				const char *name)
{
	struct xt_client *c;

	c = realloc(r->clients, (r->nclients + 1) * sizeof(*c));
	if (!c)
		xt_oom();
	r->clients = c;
	c = &r->clients[r->nclients++];
	memset(c, 0, sizeof(*c));
	c->fam = fam;
	c->name = xt_strdup(name);
	return c;
}

/* ---------------------------------------------------------------------- */
/* output                                                                  */

void xt_report_print(const struct xt_report *r, int indent, FILE *out)
{
	size_t i;

	fprintf(out, "%*s%s%s%s (%s): %s\n", indent, "", r->role ? r->role : "",
		r->role ? ": " : "", r->name, r->path, r->verdict);
	for (i = 0; i < r->nnotes; i++) {
		const struct xt_note *n = &r->notes[i];

		if (n->topic[0])
			fprintf(out, "%*s%s: %s\n", indent + 2, "", n->topic,
				n->text);
		else
			fprintf(out, "%*s%s\n", indent + 4, "", n->text);
	}
	if (r->inner)
		xt_report_print(r->inner, indent + 2, out);
}

static cJSON *xt_json_object(void)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		xt_oom();
	return o;
}

cJSON *xt_report_json(const struct xt_report *r)
{
	cJSON *o = xt_json_object(), *a, *it;
	size_t i;
	const char *topic = "";

	cJSON_AddStringToObject(o, "program", r->name);
	cJSON_AddStringToObject(o, "path", r->path);
	if (r->role)
		cJSON_AddStringToObject(o, "role", r->role);
	cJSON_AddNumberToObject(o, "status", r->status);
	cJSON_AddBoolToObject(o, "traced", r->status == XT_TRACED);
	cJSON_AddStringToObject(o, "verdict", r->verdict);
	cJSON_AddBoolToObject(o, "sockets", r->sockets);
	cJSON_AddBoolToObject(o, "dlopen", r->dlopen);
	a = cJSON_AddArrayToObject(o, "client_libraries");
	for (i = 0; a && i < r->nclients; i++) {
		const struct xt_client *c = &r->clients[i];

		it = xt_json_object();
		cJSON_AddStringToObject(it, "library", c->name);
		cJSON_AddStringToObject(it, "hooks", xt_families[c->fam].key);
		cJSON_AddStringToObject(it, "linked", c->compiled_in ?
					"compiled in" : "shared");
		if (c->path) {
			cJSON_AddStringToObject(it, "path", c->path);
			cJSON_AddStringToObject(it, "found_by", c->by);
			cJSON_AddStringToObject(it, "needed_by", c->needed_by);
		}
		cJSON_AddItemToArray(a, it);
	}
	a = cJSON_AddArrayToObject(o, "details");
	for (i = 0; a && i < r->nnotes; i++) {
		/* A continued note carries the topic it continues. */
		if (r->notes[i].topic[0])
			topic = r->notes[i].topic;
		it = xt_json_object();
		cJSON_AddStringToObject(it, "topic", topic);
		cJSON_AddStringToObject(it, "text", r->notes[i].text);
		cJSON_AddItemToArray(a, it);
	}
	if (r->inner)
		cJSON_AddItemToObject(o, "inner", xt_report_json(r->inner));
	return o;
}
