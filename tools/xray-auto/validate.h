/*
 * Validation of X-Ray daemon datagrams: "<header JSON>\n<document JSON>".
 *
 * Pure functions (no I/O, no global state besides cJSON's error pointer) so
 * they can be unit-tested. The rules are those of the X-Ray daemon (header)
 * and of the segment document schema (body), made strict where a real
 * service or a strict JSON parser would reject what cJSON tolerates
 * (raw control characters, invalid UTF-8, sloppy numbers, BOMs).
 */
#ifndef XRAY_AUTO_TOOL_VALIDATE_H
#define XRAY_AUTO_TOOL_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

/* Largest IPv4 UDP payload; anything longer cannot have been sent. */
#define XT_DATAGRAM_MAX 65507u
/* Documents above this are valid but flagged: the documented limit is 64 kB. */
#define XT_DATAGRAM_WARN 64000u
/* Receive buffer: one byte more than the daemon's so oversize is visible. */
#define XT_RECV_BUF_SIZE (65536u + 1u)
#define XT_NAME_MAX_CHARS 200u
#define XT_REASON_MAX 192u

struct xt_verdict {
	cJSON *doc;		/* on success: the body, owned by the caller */
	bool large;		/* datagram longer than XT_DATAGRAM_WARN */
	bool subsegment;	/* body has "type":"subsegment" */
	char reason[XT_REASON_MAX]; /* on failure: why, no raw input echoed */
};

/* 16 lowercase hex digits, nothing else. NULL is not an id. */
bool xt_is_entity_id(const char *s);
/* "1-" + 8 lowercase hex + "-" + 24 lowercase hex. */
bool xt_is_trace_id(const char *s);
/* 1..200 characters from the X-Ray name alphabet (bytes >= 0x80 count as
 * letters, one character per UTF-8 sequence). */
bool xt_is_valid_name(const char *s);
/* Strict UTF-8: no overlongs, surrogates or code points above U+10FFFF. */
bool xt_utf8_valid(const char *s, size_t len);

/*
 * Each returns 0 when valid, -EINVAL when not (with a NUL-terminated
 * explanation in reason if reason_len > 0), -ENOMEM on allocation failure.
 */
int xt_validate_header(const char *hdr, size_t len, char *reason,
		       size_t reason_len);
int xt_validate_document(const cJSON *doc, char *reason, size_t reason_len);

/*
 * Validates a whole datagram of len bytes. When len > XT_DATAGRAM_MAX, buf
 * is not read at all (the caller may have received a truncated copy).
 * On 0, v->doc holds the parsed body; on error v->doc is NULL.
 */
int xt_validate_datagram(const char *buf, size_t len, struct xt_verdict *v);

#endif
