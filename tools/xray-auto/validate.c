#define _GNU_SOURCE
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jsonget.h"

/* Walk state for one document: ids seen (for uniqueness) and the trace id
 * nested entities must agree with. */
struct xt_vctx {
	const char **ids;
	size_t nids;
	size_t cap;
	const char *trace_id;
	char *reason;
	size_t reason_len;
};

static int xt_fail(char *reason, size_t len, const char *path,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Always returns -EINVAL so callers can `return xt_fail(...)`. */
static int xt_fail(char *reason, size_t len, const char *path,
		   const char *fmt, ...)
{
	va_list ap;
	size_t off = 0;
	int n;

	if (!reason || len == 0)
		return -EINVAL;
	reason[0] = '\0';
	if (path && path[0]) {
		n = snprintf(reason, len, "%s: ", path);
		if (n < 0)
			return -EINVAL;
		off = (size_t)n < len ? (size_t)n : len - 1;
	}
	va_start(ap, fmt);
	vsnprintf(reason + off, len - off, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool xt_lower_hex_n(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/* strnlen first: never reads past the terminator of a short string. */
bool xt_is_entity_id(const char *s)
{
	return s && strnlen(s, 17) == 16 && xt_lower_hex_n(s, 16);
}

bool xt_is_trace_id(const char *s)
{
	return s && strnlen(s, 36) == 35 && s[0] == '1' && s[1] == '-' &&
	       xt_lower_hex_n(s + 2, 8) && s[10] == '-' &&
	       xt_lower_hex_n(s + 11, 24);
}

static bool xt_name_byte_ok(unsigned char c)
{
	if (c >= 0x80)
		return true;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return true;
	return c != '\0' && strchr("_.:/%&#=+\\-@", c) != NULL;
}

static int xt_check_name(const char *s, char *reason, size_t len,
			 const char *path)
{
	const unsigned char *p;
	size_t chars = 0;

	if (!s)
		return xt_fail(reason, len, path,
			       "\"name\" missing or not a string");
	if (!s[0])
		return xt_fail(reason, len, path, "\"name\" is empty");
	for (p = (const unsigned char *)s; *p; p++) {
		if (!xt_name_byte_ok(*p))
			return xt_fail(reason, len, path,
				       "\"name\" contains invalid character 0x%02x",
				       *p);
		/* Count code points: continuation bytes do not start one. */
		if ((*p & 0xC0) != 0x80)
			chars++;
	}
	if (chars > XT_NAME_MAX_CHARS)
		return xt_fail(reason, len, path,
			       "\"name\" longer than %u characters (%zu)",
			       XT_NAME_MAX_CHARS, chars);
	return 0;
}

bool xt_is_valid_name(const char *s)
{
	return xt_check_name(s, NULL, 0, NULL) == 0;
}

bool xt_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		uint32_t cp, min;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
			min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
			min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			unsigned b = p[i + k];

			if ((b & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (b & 0x3F);
		}
		if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

static bool xt_is_json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool xt_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 number grammar; cJSON itself accepts "+1", "01", ".5", "1.". */
static bool xt_json_number_ok(const char *s, size_t n)
{
	size_t i = 0, start;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n)
		return false;
	if (s[i] == '0') {
		i++;
	} else if (s[i] >= '1' && s[i] <= '9') {
		while (i < n && xt_is_digit(s[i]))
			i++;
	} else {
		return false;
	}
	if (i < n && s[i] == '.') {
		start = ++i;
		while (i < n && xt_is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		start = i;
		while (i < n && xt_is_digit(s[i]))
			i++;
		if (i == start)
			return false;
	}
	return i == n;
}

static bool xt_is_number_char(char c)
{
	return xt_is_digit(c) || c == '+' || c == '-' || c == '.' ||
	       c == 'e' || c == 'E';
}

/*
 * Lexical strictness pass done before cJSON: rejects what cJSON accepts but
 * a strict parser (Go's encoding/json in the daemon/service) would not, and
 * "\u0000", which cJSON would silently turn into a truncated string.
 */
static int xt_json_lexical_check(const char *s, size_t n, const char *what,
				 char *reason, size_t len)
{
	bool in_str = false, esc = false;
	size_t i = 0;

	while (i < n) {
		char c = s[i];

		if (in_str) {
			if (esc) {
				esc = false;
				if (c == 'u' && n - i > 4 &&
				    memcmp(s + i + 1, "0000", 4) == 0)
					return xt_fail(reason, len, NULL,
						       "%s: \\u0000 in string", what);
			} else if (c == '\\') {
				esc = true;
			} else if (c == '"') {
				in_str = false;
			} else if ((unsigned char)c < 0x20) {
				return xt_fail(reason, len, NULL,
					       "%s: unescaped control character 0x%02x in string",
					       what, (unsigned char)c);
			}
			i++;
			continue;
		}
		if (c == '"') {
			in_str = true;
			i++;
		} else if (xt_is_digit(c) || c == '-' || c == '+' || c == '.') {
			size_t start = i;

			while (i < n && xt_is_number_char(s[i]))
				i++;
			if (!xt_json_number_ok(s + start, i - start))
				return xt_fail(reason, len, NULL,
					       "%s: malformed number at offset %zu",
					       what, start);
		} else if ((unsigned char)c < 0x20 && !xt_is_json_ws(c)) {
			return xt_fail(reason, len, NULL,
				       "%s: control character 0x%02x outside string",
				       what, (unsigned char)c);
		} else {
			i++;
		}
	}
	return 0;
}

/* Overflowing numbers (1e400) parse to infinity in cJSON but are errors
 * for strict parsers; recursion is bounded by cJSON's nesting limit. */
static bool xt_all_numbers_finite(const cJSON *v)
{
	const cJSON *c;

	if (cJSON_IsNumber(v))
		return isfinite(v->valuedouble);
	cJSON_ArrayForEach(c, v)
		if (!xt_all_numbers_finite(c))
			return false;
	return true;
}

/*
 * Parses exactly one JSON value spanning s[0..n) modulo surrounding JSON
 * whitespace. cJSON_ParseWithLengthOpts' own require_null_terminated needs a
 * NUL inside the length, so trailing bytes are checked here instead.
 */
static int xt_parse_exact(const char *s, size_t n, const char *what,
			  cJSON **out, char *reason, size_t len)
{
	const char *end = NULL;
	cJSON *v;
	int rc;

	*out = NULL;
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		return xt_fail(reason, len, NULL, "%s: byte order mark", what);
	rc = xt_json_lexical_check(s, n, what, reason, len);
	if (rc)
		return rc;
	v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
	if (!v)
		return xt_fail(reason, len, NULL, "%s: not valid JSON", what);
	if (!end || end < s || end > s + n) {
		cJSON_Delete(v);
		return xt_fail(reason, len, NULL, "%s: not valid JSON", what);
	}
	while (end < s + n && xt_is_json_ws(*end))
		end++;
	if (end != s + n) {
		cJSON_Delete(v);
		return xt_fail(reason, len, NULL,
			       "%s: trailing data after JSON value at offset %zu",
			       what, (size_t)(end - s));
	}
	if (!cJSON_IsObject(v)) {
		cJSON_Delete(v);
		return xt_fail(reason, len, NULL, "%s: not a JSON object", what);
	}
	if (!xt_all_numbers_finite(v)) {
		cJSON_Delete(v);
		return xt_fail(reason, len, NULL, "%s: number out of range", what);
	}
	*out = v;
	return 0;
}

int xt_validate_header(const char *hdr, size_t len, char *reason,
		       size_t reason_len)
{
	const cJSON *fmt, *ver;
	cJSON *h = NULL;
	int rc;

	rc = xt_parse_exact(hdr, len, "header", &h, reason, reason_len);
	if (rc)
		return rc;
	/* The daemon unmarshals into a Go struct: key match is
	 * case-insensitive, hence cJSON_GetObjectItem, not ...CaseSensitive. */
	fmt = cJSON_GetObjectItem(h, "format");
	ver = cJSON_GetObjectItem(h, "version");
	if (!cJSON_IsString(fmt) || !fmt->valuestring ||
	    strcasecmp(fmt->valuestring, "json") != 0) {
		rc = xt_fail(reason, reason_len, NULL,
			     "header: \"format\" is not \"json\"");
		goto out;
	}
	if (!cJSON_IsNumber(ver) || ver->valuedouble != 1.0) {
		rc = xt_fail(reason, reason_len, NULL,
			     "header: \"version\" is not 1");
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(h);
	return rc;
}

static int xt_push_id(struct xt_vctx *c, const char *id)
{
	if (c->nids == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 32;
		const char **n = realloc(c->ids, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		c->ids = n;
		c->cap = ncap;
	}
	c->ids[c->nids++] = id;
	return 0;
}

static int xt_cmp_str_ptr(const void *a, const void *b)
{
	const char *const *x = a;
	const char *const *y = b;

	return strcmp(*x, *y);
}

static int xt_check_optional_bool(const cJSON *e, const char *key,
				  struct xt_vctx *c, const char *path)
{
	const cJSON *v = xt_jget(e, key);

	if (v && !cJSON_IsBool(v))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"%s\" is not a boolean", key);
	return 0;
}

static int xt_check_times(const cJSON *e, struct xt_vctx *c, const char *path)
{
	const cJSON *endv = xt_jget(e, "end_time");
	const cJSON *inp = xt_jget(e, "in_progress");
	double start, end;

	if (!xt_jnum(e, "start_time", &start) || !(start > 0))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"start_time\" missing or not a positive number");
	if (inp && !cJSON_IsBool(inp))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"in_progress\" is not a boolean");
	if (endv) {
		if (!xt_jnum(e, "end_time", &end))
			return xt_fail(c->reason, c->reason_len, path,
				       "\"end_time\" is not a number");
		if (end < start)
			return xt_fail(c->reason, c->reason_len, path,
				       "\"end_time\" before \"start_time\"");
		return 0;
	}
	if (!cJSON_IsTrue(inp))
		return xt_fail(c->reason, c->reason_len, path,
			       "neither \"end_time\" nor \"in_progress\":true");
	return 0;
}

static int xt_check_entity(const cJSON *e, struct xt_vctx *c,
			   const char *path, bool root);

static int xt_check_children(const cJSON *e, struct xt_vctx *c,
			     const char *path)
{
	const cJSON *subs = xt_jget(e, "subsegments");
	const cJSON *child;
	char cpath[128];
	int i = 0, rc;

	if (!subs)
		return 0;
	if (!cJSON_IsArray(subs))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"subsegments\" is not an array");
	cJSON_ArrayForEach(child, subs) {
		/* Truncated paths only shorten the message, never matter. */
		snprintf(cpath, sizeof(cpath), "%s%ssubsegments[%d]", path,
			 path[0] ? "." : "", i);
		if (!cJSON_IsObject(child))
			return xt_fail(c->reason, c->reason_len, cpath,
				       "not a JSON object");
		rc = xt_check_entity(child, c, cpath, false);
		if (rc)
			return rc;
		i++;
	}
	return 0;
}

/* Recursion depth is bounded by cJSON's nesting limit (1000 levels). */
static int xt_check_entity(const cJSON *e, struct xt_vctx *c,
			   const char *path, bool root)
{
	const cJSON *typev = xt_jget(e, "type");
	const cJSON *pidv = xt_jget(e, "parent_id");
	const cJSON *tidv = xt_jget(e, "trace_id");
	const char *id = xt_jstr(e, "id");
	bool sub = false;
	int rc;

	rc = xt_check_name(xt_jstr(e, "name"), c->reason, c->reason_len, path);
	if (rc)
		return rc;
	if (!xt_is_entity_id(id))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"id\" missing or not 16 lowercase hex digits");
	rc = xt_push_id(c, id);
	if (rc) {
		xt_fail(c->reason, c->reason_len, NULL, "out of memory");
		return rc;
	}
	if (typev) {
		if (!cJSON_IsString(typev) ||
		    strcmp(typev->valuestring, "subsegment") != 0)
			return xt_fail(c->reason, c->reason_len, path,
				       "\"type\" is not \"subsegment\"");
		sub = true;
	}
	if (root) {
		if (!xt_is_trace_id(xt_jstr(e, "trace_id")))
			return xt_fail(c->reason, c->reason_len, path,
				       "\"trace_id\" missing or malformed");
		c->trace_id = xt_jstr(e, "trace_id");
		if (sub && !pidv)
			return xt_fail(c->reason, c->reason_len, path,
				       "subsegment without \"parent_id\"");
	} else if (tidv) {
		/* SDKs copy trace_id into nested subsegments; it must agree. */
		if (!xt_is_trace_id(xt_jstr(e, "trace_id")))
			return xt_fail(c->reason, c->reason_len, path,
				       "\"trace_id\" malformed");
		if (strcmp(xt_jstr(e, "trace_id"), c->trace_id) != 0)
			return xt_fail(c->reason, c->reason_len, path,
				       "\"trace_id\" differs from the document's");
	}
	if (pidv && !xt_is_entity_id(xt_jstr(e, "parent_id")))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"parent_id\" not 16 lowercase hex digits");
	rc = xt_check_times(e, c, path);
	if (rc)
		return rc;
	if ((rc = xt_check_optional_bool(e, "error", c, path)) ||
	    (rc = xt_check_optional_bool(e, "fault", c, path)) ||
	    (rc = xt_check_optional_bool(e, "throttle", c, path)))
		return rc;
	if (xt_jget(e, "namespace") && !xt_jstr(e, "namespace"))
		return xt_fail(c->reason, c->reason_len, path,
			       "\"namespace\" is not a string");
	return xt_check_children(e, c, path);
}

int xt_validate_document(const cJSON *doc, char *reason, size_t reason_len)
{
	struct xt_vctx c = { .reason = reason, .reason_len = reason_len };
	size_t i;
	int rc;

	if (!cJSON_IsObject(doc))
		return xt_fail(reason, reason_len, NULL,
			       "document is not a JSON object");
	rc = xt_check_entity(doc, &c, "", true);
	if (rc)
		goto out;
	qsort(c.ids, c.nids, sizeof(*c.ids), xt_cmp_str_ptr);
	for (i = 1; i < c.nids; i++) {
		if (strcmp(c.ids[i - 1], c.ids[i]) == 0) {
			/* Safe to echo: ids were checked to be hex. */
			rc = xt_fail(reason, reason_len, NULL,
				     "duplicate id %s in document", c.ids[i]);
			goto out;
		}
	}
out:
	free(c.ids);
	return rc;
}

static bool xt_all_ws(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!xt_is_json_ws(s[i]))
			return false;
	return true;
}

int xt_validate_datagram(const char *buf, size_t len, struct xt_verdict *v)
{
	const char *nl, *body;
	size_t hlen, blen;
	cJSON *doc = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	v->large = len > XT_DATAGRAM_WARN;
	if (len > XT_DATAGRAM_MAX)
		return xt_fail(v->reason, sizeof(v->reason), NULL,
			       "datagram too large (%zu > %u bytes)", len,
			       XT_DATAGRAM_MAX);
	if (len == 0)
		return xt_fail(v->reason, sizeof(v->reason), NULL,
			       "empty datagram");
	nl = memchr(buf, '\n', len);
	if (!nl)
		return xt_fail(v->reason, sizeof(v->reason), NULL,
			       "missing newline after header");
	if (memchr(buf, '\0', len))
		return xt_fail(v->reason, sizeof(v->reason), NULL,
			       "NUL byte in datagram");
	if (!xt_utf8_valid(buf, len))
		return xt_fail(v->reason, sizeof(v->reason), NULL,
			       "invalid UTF-8");
	hlen = (size_t)(nl - buf);
	body = nl + 1;
	blen = len - hlen - 1;
	rc = xt_validate_header(buf, hlen, v->reason, sizeof(v->reason));
	if (rc)
		return rc;
	if (xt_all_ws(body, blen))
		return xt_fail(v->reason, sizeof(v->reason), NULL,
			       "empty body");
	rc = xt_parse_exact(body, blen, "body", &doc, v->reason,
			    sizeof(v->reason));
	if (rc)
		return rc;
	rc = xt_validate_document(doc, v->reason, sizeof(v->reason));
	if (rc) {
		cJSON_Delete(doc);
		return rc;
	}
	v->subsegment = xt_jstr(doc, "type") != NULL;
	v->doc = doc;
	return 0;
}
