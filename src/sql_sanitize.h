/*
 * SQL text as it may leave the process (xray-spec.md 2.8 sanitized_query).
 * Every literal becomes '?': quoted strings with every escape form, E''
 * and U&'' strings, dollar-quoted bodies, numbers, hex and bit literals,
 * MySQL "" strings. Comments are dropped (they may hold anything),
 * whitespace runs become one space. Placeholders ($1, ?, :name) and
 * identifiers ("quoted" in PostgreSQL, `quoted` in MySQL) are kept.
 * Text past the bound is cut at a character boundary and ends with
 * XR_SQL_TRUNCATED. Where the dialect is ambiguous the sanitizer removes
 * more, never less: an unterminated literal swallows the rest.
 * Contract: pure; no allocation; output is always valid UTF-8 and
 * NUL-terminated when cap > 0.
 *
 * Bounds, for all three functions: cap counts the NUL, so at most cap-1
 * bytes of text (pass XR_SQL_QUERY_MAX + 1 for the document's bound). A
 * text of exactly cap-1 bytes is kept whole; a longer one keeps what fits
 * before the marker, on a character boundary. Below the marker's length
 * only a prefix of the marker fits; cap 0 writes nothing.
 *
 * The lexer reads UTF-8 (or any ASCII-compatible encoding whose multi-byte
 * characters never contain a quote or backslash byte; SJIS and GBK can,
 * and are not supported). Removing more where the servers differ:
 * MySQL identifiers that start with a digit (2fa) go as numbers, MySQL's
 * executable and hint comments go like any comment, an unterminated
 * quoted identifier goes like an unterminated string, and control
 * characters outside literals count as whitespace.
 */
#ifndef XR_SQL_SANITIZE_H
#define XR_SQL_SANITIZE_H

#include "xr_setup.h"

enum xr_sql_dialect {
  XR_SQL_POSTGRES, /* '' strings; E'' takes backslash escapes */
  XR_SQL_MYSQL     /* '' and "" strings; backslash escapes; # and -- comments */
};

struct xr_sql_lex {
  enum xr_sql_dialect dialect;
  /* PostgreSQL: standard_conforming_strings=off makes backslash an escape
   * in plain '' strings too. MySQL: NO_BACKSLASH_ESCAPES clears it. */
  bool backslash_escapes;
};

#define XR_SQL_TRUNCATED "..."
#define XR_SQL_QUERY_MAX 2048 /* bytes kept of a statement, marker included */

/* Writes the sanitized form of q[0..len) to out; q needs no NUL and may
 * hold NULs (whitespace outside literals). lex is required. Returns the
 * length written (without the NUL). */
size_t xr_sql_sanitize(const char *q, size_t len, const struct xr_sql_lex *lex,
                       char *out, size_t cap);

/* The statement as given, cut at the bound and made valid UTF-8
 * (XRAY_AUTO_SQL=raw): every byte that is not part of well-formed UTF-8,
 * and NUL, becomes '?'. Returns the length written. */
size_t xr_sql_raw(const char *q, size_t len, char *out, size_t cap);

/* A server's error message with every quoted run ('..', "..", `..`) and
 * every number replaced by '?': messages quote the values that failed
 * (invalid input syntax for type integer: "<literal>"). Only the first
 * line, whitespace collapsed and trimmed. Values are echoed unescaped, so
 * a quote closes only before a non-word character, MySQL's near '...' at
 * line N runs to the last "' at line", an unterminated run swallows the
 * line, and translated quotation marks (» «, “ ”, 「 」...) count too.
 * Numbers go (5, 1.5, 0x1F); words mixing letters and digits (42P01,
 * utf8mb4) stay. msg may be
 * NULL. Returns the length written. */
size_t xr_sql_scrub_message(const char *msg, char *out, size_t cap);

#endif /* XR_SQL_SANITIZE_H */
