/*
 * Unit test of the collector's datagram validation
 * (tools/xray-auto/validate.c, included below so no library is needed).
 *
 * CMake (tests/unit/CMakeLists.txt; PkgConfig::CJSON comes from the
 * top-level pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)):
 *
 *   pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)
 *   add_executable(test_collector_validate test_collector_validate.c)
 *   target_link_libraries(test_collector_validate PRIVATE
 *     PkgConfig::CJSON PkgConfig::CMOCKA)
 *   add_test(NAME unit.collector_validate COMMAND test_collector_validate)
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../tools/xray-auto/validate.c"

#define HDR "{\"format\":\"json\",\"version\":1}\n"
#define TID "1-5f1e2d3c-0123456789abcdef01234567"
#define ID1 "0123456789abcdef"
#define ID2 "1111111111111111"
#define ID3 "2222222222222222"
/* A complete segment; extra is spliced in before the closing brace. */
#define SEG_FIELDS(name, extra)                                              \
	"{\"name\":\"" name "\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID      \
	"\",\"start_time\":1700000000.5,\"end_time\":1700000000.75" extra "}"
#define SEG(extra) SEG_FIELDS("svc", extra)
#define SUB(id, extra)                                                       \
	"{\"name\":\"sub\",\"id\":\"" id "\",\"start_time\":1700000000.6,"   \
	"\"end_time\":1700000000.7" extra "}"
#define INDEP(extra)                                                         \
	"{\"name\":\"ddb\",\"id\":\"" ID2 "\",\"type\":\"subsegment\","      \
	"\"trace_id\":\"" TID "\",\"parent_id\":\"" ID1 "\","                \
	"\"start_time\":1700000000.6,\"end_time\":1700000000.7" extra "}"

struct dg_case {
	const char *label;
	const char *data;
	size_t len;		/* 0: strlen(data) */
	bool valid;
	const char *reason;	/* substring expected in the reason, or NULL */
};

static const struct dg_case cases[] = {
	/* valid */
	{ "minimal segment", HDR SEG(""), 0, true, NULL },
	{ "spaced header (Go/Java SDKs)",
	  "{\"format\": \"json\", \"version\": 1}\n" SEG(""), 0, true, NULL },
	{ "format case-insensitive", "{\"format\":\"JSON\",\"version\":1}\n" SEG(""),
	  0, true, NULL },
	{ "header keys case-insensitive (Go unmarshal)",
	  "{\"Format\":\"json\",\"Version\":1}\n" SEG(""), 0, true, NULL },
	{ "version 1.0", "{\"format\":\"json\",\"version\":1.0}\n" SEG(""), 0,
	  true, NULL },
	{ "extra header key", "{\"format\":\"json\",\"version\":1,\"x\":2}\n" SEG(""),
	  0, true, NULL },
	{ "in progress",
	  HDR "{\"name\":\"svc\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1700000000.5,\"in_progress\":true}",
	  0, true, NULL },
	{ "end equals start",
	  HDR "{\"name\":\"svc\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1700000000.5,\"end_time\":1700000000.5}",
	  0, true, NULL },
	{ "completed doc with in_progress false",
	  HDR SEG(",\"in_progress\":false"), 0, true, NULL },
	{ "segment with upstream parent_id", HDR SEG(",\"parent_id\":\"" ID3 "\""),
	  0, true, NULL },
	{ "independent subsegment", HDR INDEP(""), 0, true, NULL },
	{ "nested subsegments",
	  HDR SEG(",\"subsegments\":[" SUB(ID2, ",\"subsegments\":[" SUB(ID3, "") "]")
		  "]"),
	  0, true, NULL },
	{ "nested with Python SDK extras",
	  HDR SEG(",\"subsegments\":[" SUB(ID2, ",\"type\":\"subsegment\","
						"\"trace_id\":\"" TID "\","
						"\"parent_id\":\"" ID1 "\","
						"\"in_progress\":false") "]"),
	  0, true, NULL },
	{ "nested in progress",
	  HDR SEG(",\"subsegments\":[{\"name\":\"s\",\"id\":\"" ID2
		  "\",\"start_time\":1700000000.6,\"in_progress\":true}]"),
	  0, true, NULL },
	{ "name punctuation", HDR SEG_FIELDS("a _.:/%&#=+\\\\-@ z9", ""), 0,
	  true, NULL },
	{ "name UTF-8", HDR SEG_FIELDS("caf\xc3\xa9 \xe6\x97\xa5", ""), 0, true,
	  NULL },
	{ "name escaped non-ASCII", HDR SEG_FIELDS("caf\\u00e9", ""), 0, true,
	  NULL },
	{ "flags, http, cause",
	  HDR SEG(",\"error\":true,\"fault\":false,\"throttle\":true,"
		  "\"namespace\":\"remote\",\"http\":{\"request\":{\"method\":"
		  "\"GET\",\"url\":\"http://h/\\n\"},\"response\":{\"status\":429}},"
		  "\"cause\":{\"exceptions\":[{\"id\":\"" ID3 "\"}]}"),
	  0, true, NULL },
	{ "exponent numbers",
	  HDR "{\"name\":\"svc\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1.7e9,\"end_time\":1.7E+9,\"x\":-0.5e-3}",
	  0, true, NULL },
	{ "whitespace around body", HDR " \t" SEG("") "\r\n", 0, true, NULL },

	/* framing and header */
	{ "empty datagram", "", 0, false, "empty datagram" },
	{ "no newline", "{\"format\":\"json\",\"version\":1}", 0, false,
	  "missing newline" },
	{ "empty body", HDR, 0, false, "empty body" },
	{ "blank body", HDR " \r\n\t", 0, false, "empty body" },
	{ "header not JSON", "{\"format\":\"json\"\n" SEG(""), 0, false,
	  "header: not valid JSON" },
	{ "header array", "[1]\n" SEG(""), 0, false, "header: not a JSON object" },
	{ "header trailing garbage",
	  "{\"format\":\"json\",\"version\":1}x\n" SEG(""), 0, false, "header" },
	{ "format xml", "{\"format\":\"xml\",\"version\":1}\n" SEG(""), 0, false,
	  "\"format\"" },
	{ "format missing", "{\"version\":1}\n" SEG(""), 0, false, "\"format\"" },
	{ "version 2", "{\"format\":\"json\",\"version\":2}\n" SEG(""), 0, false,
	  "\"version\"" },
	{ "version string", "{\"format\":\"json\",\"version\":\"1\"}\n" SEG(""), 0,
	  false, "\"version\"" },
	{ "header BOM", "\xef\xbb\xbf" HDR SEG(""), 0, false, "byte order mark" },

	/* body syntax */
	{ "body array", HDR "[" SEG("") "]", 0, false, "not a JSON object" },
	{ "body truncated", HDR "{\"name\":\"svc\",\"id\":\"" ID1, 0, false,
	  "not valid JSON" },
	{ "two documents", HDR SEG("") SEG(""), 0, false, "trailing data" },
	{ "two documents on two lines", HDR SEG("") "\n" SEG(""), 0, false,
	  "trailing data" },
	{ "body BOM", HDR "\xef\xbb\xbf" SEG(""), 0, false, "byte order mark" },
	{ "raw tab in string", HDR SEG_FIELDS("a\tb", ""), 0, false,
	  "unescaped control character 0x09" },
	{ "raw newline in string", HDR SEG(",\"sql\":{\"sanitized_query\":\"a\nb\"}"),
	  0, false, "unescaped control character 0x0a" },
	{ "control char outside string", HDR SEG(",\x01\"x\":1"), 0, false,
	  "control character 0x01 outside string" },
	{ "escaped NUL", HDR SEG(",\"x\":\"a\\u0000b\""), 0, false, "\\u0000" },
	{ "raw NUL", HDR SEG("") "\0", sizeof(HDR SEG("") "\0") - 1, false,
	  "NUL byte" },
	{ "invalid UTF-8 byte", HDR SEG_FIELDS("caf\xe9", ""), 0, false,
	  "invalid UTF-8" },
	{ "overlong UTF-8", HDR SEG_FIELDS("\xc0\xaf", ""), 0, false,
	  "invalid UTF-8" },
	{ "UTF-8 surrogate", HDR SEG_FIELDS("\xed\xa0\x80", ""), 0, false,
	  "invalid UTF-8" },
	{ "truncated UTF-8 at end", HDR SEG("") "\xe6\x97", 0, false,
	  "invalid UTF-8" },
	{ "number with plus", HDR SEG(",\"x\":+1"), 0, false, "malformed number" },
	{ "number leading zero", HDR SEG(",\"x\":01"), 0, false,
	  "malformed number" },
	{ "number leading dot", HDR SEG(",\"x\":.5"), 0, false,
	  "malformed number" },
	{ "number trailing dot", HDR SEG(",\"x\":1."), 0, false,
	  "malformed number" },
	{ "NaN", HDR SEG(",\"x\":NaN"), 0, false, "not valid JSON" },

	/* required fields */
	{ "name missing",
	  HDR "{\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"name\" missing" },
	{ "name empty", HDR SEG_FIELDS("", ""), 0, false, "\"name\" is empty" },
	{ "name number",
	  HDR "{\"name\":5,\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"name\" missing" },
	{ "name semicolon", HDR SEG_FIELDS("a;b", ""), 0, false,
	  "invalid character 0x3b" },
	{ "name angle bracket", HDR SEG_FIELDS("<b>", ""), 0, false,
	  "invalid character 0x3c" },
	{ "name comma", HDR SEG_FIELDS("a,b", ""), 0, false,
	  "invalid character 0x2c" },
	{ "id uppercase", HDR "{\"name\":\"s\",\"id\":\"0123456789ABCDEF\","
			  "\"trace_id\":\"" TID "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"id\"" },
	{ "id 15 digits", HDR "{\"name\":\"s\",\"id\":\"0123456789abcde\","
			  "\"trace_id\":\"" TID "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"id\"" },
	{ "id 17 digits", HDR "{\"name\":\"s\",\"id\":\"0123456789abcdef0\","
			  "\"trace_id\":\"" TID "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"id\"" },
	{ "id number", HDR "{\"name\":\"s\",\"id\":123,"
		       "\"trace_id\":\"" TID "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"id\"" },
	{ "trace_id missing",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"trace_id\"" },
	{ "trace_id version 2",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":"
	      "\"2-5f1e2d3c-0123456789abcdef01234567\",\"start_time\":1,"
	      "\"end_time\":2}",
	  0, false, "\"trace_id\"" },
	{ "trace_id uppercase",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":"
	      "\"1-5F1E2D3C-0123456789abcdef01234567\",\"start_time\":1,"
	      "\"end_time\":2}",
	  0, false, "\"trace_id\"" },
	{ "trace_id short random part",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":"
	      "\"1-5f1e2d3c-0123456789abcdef0123456\",\"start_time\":1,"
	      "\"end_time\":2}",
	  0, false, "\"trace_id\"" },
	{ "start_time missing",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"end_time\":2}",
	  0, false, "\"start_time\"" },
	{ "start_time zero",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":0,\"end_time\":2}",
	  0, false, "\"start_time\"" },
	{ "start_time string",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":\"1\",\"end_time\":2}",
	  0, false, "\"start_time\"" },
	{ "start_time overflows to inf",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1e400,\"end_time\":2}",
	  0, false, "number out of range" },
	{ "overflowing number anywhere", HDR SEG(",\"metadata\":{\"a\":[-1e999]}"),
	  0, false, "number out of range" },
	{ "end before start",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":2,\"end_time\":1}",
	  0, false, "before" },
	{ "end_time string",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1,\"end_time\":\"2\"}",
	  0, false, "\"end_time\"" },
	{ "neither end nor in_progress",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1}",
	  0, false, "in_progress" },
	{ "in_progress false without end",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1,\"in_progress\":false}",
	  0, false, "in_progress" },
	{ "in_progress string",
	  HDR "{\"name\":\"s\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
	      "\",\"start_time\":1,\"in_progress\":\"true\"}",
	  0, false, "\"in_progress\" is not a boolean" },
	{ "fault not boolean", HDR SEG(",\"fault\":1"), 0, false,
	  "\"fault\" is not a boolean" },
	{ "namespace not string", HDR SEG(",\"namespace\":1"), 0, false,
	  "\"namespace\"" },

	/* subsegments */
	{ "subsegment without parent_id",
	  HDR "{\"name\":\"ddb\",\"id\":\"" ID2 "\",\"type\":\"subsegment\","
	      "\"trace_id\":\"" TID "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "parent_id" },
	{ "subsegment without trace_id",
	  HDR "{\"name\":\"ddb\",\"id\":\"" ID2 "\",\"type\":\"subsegment\","
	      "\"parent_id\":\"" ID1 "\",\"start_time\":1,\"end_time\":2}",
	  0, false, "\"trace_id\"" },
	{ "subsegment bad parent_id", HDR SEG(",\"parent_id\":\"xyz\""), 0, false,
	  "\"parent_id\"" },
	{ "unknown type", HDR SEG(",\"type\":\"segment\""), 0, false, "\"type\"" },
	{ "subsegments not array", HDR SEG(",\"subsegments\":{}"), 0, false,
	  "not an array" },
	{ "nested not object", HDR SEG(",\"subsegments\":[1]"), 0, false,
	  "subsegments[0]: not a JSON object" },
	{ "nested bad id", HDR SEG(",\"subsegments\":[" SUB("xyz", "") "]"), 0,
	  false, "subsegments[0]: \"id\"" },
	{ "nested without end",
	  HDR SEG(",\"subsegments\":[{\"name\":\"s\",\"id\":\"" ID2
		  "\",\"start_time\":1700000000.6}]"),
	  0, false, "subsegments[0]: neither" },
	{ "nested without name",
	  HDR SEG(",\"subsegments\":[{\"id\":\"" ID2
		  "\",\"start_time\":1,\"end_time\":2}]"),
	  0, false, "subsegments[0]: \"name\"" },
	{ "deep nested bad name",
	  HDR SEG(",\"subsegments\":[" SUB(ID2, "") "," SUB(ID3,
		  ",\"subsegments\":[{\"name\":\"a*b\",\"id\":\"3333333333333333\","
		  "\"start_time\":1,\"end_time\":2}]") "]"),
	  0, false, "subsegments[1].subsegments[0]: \"name\"" },
	{ "nested trace_id differs",
	  HDR SEG(",\"subsegments\":[" SUB(ID2, ",\"trace_id\":"
		  "\"1-5f1e2d3c-0123456789abcdef01234568\"") "]"),
	  0, false, "differs" },
	{ "nested id equals root id",
	  HDR SEG(",\"subsegments\":[" SUB(ID1, "") "]"), 0, false,
	  "duplicate id " ID1 },
	{ "sibling ids equal",
	  HDR SEG(",\"subsegments\":[" SUB(ID2, "") "," SUB(ID2, "") "]"), 0,
	  false, "duplicate id " ID2 },
};

static void test_datagram_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dg_case *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->data);
		struct xt_verdict v;
		int rc = xt_validate_datagram(c->data, len, &v);

		print_message("case %zu: %s -> %s\n", i, c->label,
			      rc ? v.reason : "valid");
		if (c->valid) {
			assert_int_equal(rc, 0);
			assert_non_null(v.doc);
		} else {
			assert_int_equal(rc, -EINVAL);
			assert_null(v.doc);
			assert_true(v.reason[0] != '\0');
			if (c->reason && !strstr(v.reason, c->reason))
				fail_msg("case '%s': reason '%s' lacks '%s'",
					 c->label, v.reason, c->reason);
		}
		assert_false(v.large);
		cJSON_Delete(v.doc);
	}
}

static void test_subsegment_flag(void **state)
{
	struct xt_verdict v;

	(void)state;
	assert_int_equal(xt_validate_datagram(HDR INDEP(""),
					      strlen(HDR INDEP("")), &v), 0);
	assert_true(v.subsegment);
	cJSON_Delete(v.doc);
	assert_int_equal(xt_validate_datagram(HDR SEG(""), strlen(HDR SEG("")),
					      &v), 0);
	assert_false(v.subsegment);
	assert_string_equal(cJSON_GetObjectItem(v.doc, "name")->valuestring,
			    "svc");
	cJSON_Delete(v.doc);
}

/* Builds HDR + a segment padded with metadata to exactly total bytes. */
static char *padded_datagram(size_t total)
{
	static const char head[] =
		HDR "{\"name\":\"svc\",\"id\":\"" ID1 "\",\"trace_id\":\"" TID
		"\",\"start_time\":1,\"end_time\":2,\"metadata\":{\"p\":\"";
	static const char tail[] = "\"}}";
	size_t hl = strlen(head), tl = strlen(tail);
	char *buf;

	assert_true(total > hl + tl);
	buf = malloc(total + 1);
	assert_non_null(buf);
	memcpy(buf, head, hl);
	memset(buf + hl, 'x', total - hl - tl);
	memcpy(buf + total - tl, tail, tl);
	buf[total] = '\0';
	return buf;
}

static void test_sizes(void **state)
{
	struct xt_verdict v;
	char *buf;

	(void)state;
	buf = padded_datagram(64000);
	assert_int_equal(xt_validate_datagram(buf, 64000, &v), 0);
	assert_false(v.large);
	cJSON_Delete(v.doc);
	free(buf);

	buf = padded_datagram(64001);
	assert_int_equal(xt_validate_datagram(buf, 64001, &v), 0);
	assert_true(v.large);
	cJSON_Delete(v.doc);
	free(buf);

	buf = padded_datagram(XT_DATAGRAM_MAX);
	assert_int_equal(xt_validate_datagram(buf, XT_DATAGRAM_MAX, &v), 0);
	assert_true(v.large);
	cJSON_Delete(v.doc);
	free(buf);

	buf = padded_datagram(XT_DATAGRAM_MAX + 1);
	assert_int_equal(xt_validate_datagram(buf, XT_DATAGRAM_MAX + 1, &v),
			 -EINVAL);
	assert_non_null(strstr(v.reason, "too large"));
	assert_null(v.doc);
	free(buf);

	/* Contract: an oversize length means the buffer is never read. */
	assert_int_equal(xt_validate_datagram(NULL, 70000, &v), -EINVAL);
	assert_non_null(strstr(v.reason, "too large"));
}

static void test_ids(void **state)
{
	(void)state;
	assert_true(xt_is_entity_id("0123456789abcdef"));
	assert_false(xt_is_entity_id(NULL));
	assert_false(xt_is_entity_id(""));
	assert_false(xt_is_entity_id("0123456789abcde"));
	assert_false(xt_is_entity_id("0123456789abcdef "));
	assert_false(xt_is_entity_id("0123456789abcdeF"));
	assert_false(xt_is_entity_id("0123456789abcdeg"));

	assert_true(xt_is_trace_id("1-5f1e2d3c-0123456789abcdef01234567"));
	assert_true(xt_is_trace_id("1-00000000-000000000000000000000000"));
	assert_false(xt_is_trace_id(NULL));
	assert_false(xt_is_trace_id("1-5f1e2d3c-0123456789abcdef0123456"));
	assert_false(xt_is_trace_id("1-5f1e2d3c-0123456789abcdef012345678"));
	assert_false(xt_is_trace_id("1-5f1e2d3-c0123456789abcdef01234567"));
	assert_false(xt_is_trace_id("1_5f1e2d3c-0123456789abcdef01234567"));
	assert_false(xt_is_trace_id("1-5f1e2d3c_0123456789abcdef01234567"));
	assert_false(xt_is_trace_id("1-5F1E2D3C-0123456789abcdef01234567"));
	assert_false(xt_is_trace_id("1-"));
}

static void test_names(void **state)
{
	char name[2 * XT_NAME_MAX_CHARS + 3];
	size_t i;

	(void)state;
	assert_true(xt_is_valid_name("my-program"));
	assert_true(xt_is_valid_name("db@localhost:5432/app"));
	assert_true(xt_is_valid_name("a _.:/%&#=+\\-@\t"));
	assert_true(xt_is_valid_name("\xc3\xa9t\xc3\xa9"));
	assert_false(xt_is_valid_name(NULL));
	assert_false(xt_is_valid_name(""));
	assert_false(xt_is_valid_name("a?b"));
	assert_false(xt_is_valid_name("a(b)"));
	assert_false(xt_is_valid_name("a\x01"));
	assert_false(xt_is_valid_name("a\x7f"));

	memset(name, 'a', XT_NAME_MAX_CHARS);
	name[XT_NAME_MAX_CHARS] = '\0';
	assert_true(xt_is_valid_name(name));
	name[XT_NAME_MAX_CHARS] = 'a';
	name[XT_NAME_MAX_CHARS + 1] = '\0';
	assert_false(xt_is_valid_name(name));

	/* The limit counts characters, not bytes. */
	for (i = 0; i < XT_NAME_MAX_CHARS; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[2 * XT_NAME_MAX_CHARS] = '\0';
	assert_true(xt_is_valid_name(name));
	memcpy(name + 2 * XT_NAME_MAX_CHARS, "\xc3\xa9", 3);
	assert_false(xt_is_valid_name(name));
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(xt_utf8_valid("", 0));
	assert_true(xt_utf8_valid("abc", 3));
	assert_true(xt_utf8_valid("\xc3\xa9", 2));
	assert_true(xt_utf8_valid("\xe2\x82\xac", 3));
	assert_true(xt_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_true(xt_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_false(xt_utf8_valid("\xc3", 1));
	assert_false(xt_utf8_valid("\xe2\x82", 2));
	assert_false(xt_utf8_valid("\x80", 1));
	assert_false(xt_utf8_valid("\xc0\x80", 2));
	assert_false(xt_utf8_valid("\xe0\x80\x80", 3));
	assert_false(xt_utf8_valid("\xed\xb0\x80", 3));
	assert_false(xt_utf8_valid("\xf4\x90\x80\x80", 4));
	assert_false(xt_utf8_valid("\xff", 1));
	/* Length is honoured: the bytes past it are not looked at. */
	assert_true(xt_utf8_valid("a\xff", 1));
}

static void test_document_direct(void **state)
{
	char reason[XT_REASON_MAX];
	cJSON *doc;

	(void)state;
	assert_int_equal(xt_validate_document(NULL, reason, sizeof(reason)),
			 -EINVAL);
	doc = cJSON_Parse(SEG(""));
	assert_non_null(doc);
	assert_int_equal(xt_validate_document(doc, reason, sizeof(reason)), 0);
	cJSON_Delete(doc);
	doc = cJSON_Parse("[]");
	assert_int_equal(xt_validate_document(doc, reason, sizeof(reason)),
			 -EINVAL);
	cJSON_Delete(doc);
	/* A tiny reason buffer truncates, never overflows. */
	doc = cJSON_Parse(SEG(",\"subsegments\":[" SUB("xyz", "") "]"));
	assert_int_equal(xt_validate_document(doc, reason, 4), -EINVAL);
	assert_int_equal(strlen(reason), 3);
	assert_int_equal(xt_validate_document(doc, NULL, 0), -EINVAL);
	cJSON_Delete(doc);
}

static void test_header_direct(void **state)
{
	char reason[XT_REASON_MAX];

	(void)state;
	assert_int_equal(xt_validate_header("{\"format\":\"json\",\"version\":1}",
					    29, reason, sizeof(reason)), 0);
	/* Length-bounded: the garbage after 29 bytes is not part of it. */
	assert_int_equal(xt_validate_header("{\"format\":\"json\",\"version\":1}xx",
					    29, reason, sizeof(reason)), 0);
	assert_int_equal(xt_validate_header("{\"format\":\"json\",\"version\":1}",
					    28, reason, sizeof(reason)), -EINVAL);
	assert_int_equal(xt_validate_header("", 0, reason, sizeof(reason)),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datagram_table),
		cmocka_unit_test(test_subsegment_flag),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_document_direct),
		cmocka_unit_test(test_header_direct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
