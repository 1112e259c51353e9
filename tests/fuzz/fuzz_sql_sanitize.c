/*
 * Fuzz target: the SQL sanitizer (src/sql_sanitize.c): xr_sql_sanitize, xr_sql_raw and
 * xr_sql_scrub_message.
 *
 * Input: [0] bit 0: dialect (0 PostgreSQL, 1 MySQL); bit 1: backslash_escapes; bits 2-7: a
 * small output capacity (0..63) for the truncation checks. The rest: the statement (for the
 * scrubber: the server message, up to its first NUL).
 *
 * Oracles, each from a promise of sql_sanitize.h:
 *  - bounds: at most cap-1 bytes, NUL-terminated, no NUL inside, valid UTF-8 (checked by an
 *    independent validator); cap 0 writes nothing; output never longer than the input;
 *  - truncation: with a small cap the output is the full output cut on a character boundary
 *    (at most 3 bytes before the room for the marker) followed by "...", or a prefix of the
 *    marker when cap-1 < 3; a text of exactly cap-1 bytes is kept whole (exact-size heap
 *    buffers, so ASan sees any overrun);
 *  - "every literal becomes ?": an independent scanner over the sanitized text finds no
 *    string quote outside quoted identifiers, no number starting a token, no "$$", no comment
 *    opener; and sanitizing the sanitized text changes nothing (a literal left behind would be
 *    replaced the second time). Exception, by design of the lexer: MySQL's "--" followed by
 *    a dropped comment reads as a comment opener the second time ("--/ * * /x" gives "-- x");
 *  - raw: same length, each byte kept or '?', and valid UTF-8 without NUL kept unchanged;
 *  - scrub: only the first line; no '"' or '`'; at most one "'", as an apostrophe (before an
 *    ASCII letter, after one or after the '?' of a hex number such as 0xe); no
 *    run of [A-Za-z0-9_.] with a digit and without a letter or '_' (a number) survives.
 */
#include "xr_setup.h"

#include "fuzz_common.h"
#include "sql_sanitize.h"

#include <string.h>

static bool ident_byte(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '$' || c >= 0x80;
}

static bool is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

static void check_text(const char *out, size_t n, size_t cap)
{
  XR_FZ_CHECK(cap == 0 || n <= cap - 1);
  XR_FZ_CHECK(out[n] == '\0');
  XR_FZ_CHECK(memchr(out, '\0', n) == NULL);
  XR_FZ_CHECK(xr_fz_utf8_ok((const unsigned char *)out, n));
}

/* No literal and no comment outside quoted identifiers. */
static void check_literal_free(const char *out, size_t n, bool mysql)
{
  const unsigned char *u = (const unsigned char *)out;
  char q = mysql ? '`' : '"';
  bool in_ident = false;
  size_t i;

  for (i = 0; i < n; i++) {
    unsigned char c = u[i], next = i + 1 < n ? u[i + 1] : 0;
    if (in_ident) {
      if (c == (unsigned char)q)
        in_ident = false;
      continue;
    }
    if (c == (unsigned char)q) {
      in_ident = true;
      continue;
    }
    XR_FZ_CHECK(c != '\'');
    XR_FZ_CHECK(!(mysql && c == '"'));
    XR_FZ_CHECK(!(mysql && c == '#'));
    XR_FZ_CHECK(!(c == '/' && next == '*'));
    XR_FZ_CHECK(!(!mysql && c == '-' && next == '-'));
    /* "$$" opens a body unless it continues an identifier (PostgreSQL: z$$ is a name). */
    XR_FZ_CHECK(!(!mysql && c == '$' && next == '$' && !(i > 0 && ident_byte(u[i - 1]))));
    if (is_digit(c))
      XR_FZ_CHECK(i > 0 && ident_byte(u[i - 1]));
  }
}

/* out/n from a small cap against the full result. */
static void check_cut(const char *full, size_t full_n, const char *out, size_t n, size_t cap)
{
  const size_t mlen = sizeof(XR_SQL_TRUNCATED) - 1;
  size_t k;

  if (full_n <= cap - 1) {
    XR_FZ_CHECK(n == full_n && memcmp(out, full, n) == 0);
    return;
  }
  if (cap - 1 < mlen) {
    XR_FZ_CHECK(n == cap - 1 && memcmp(out, XR_SQL_TRUNCATED, n) == 0);
    return;
  }
  XR_FZ_CHECK(n >= mlen && memcmp(out + n - mlen, XR_SQL_TRUNCATED, mlen) == 0);
  k = n - mlen;
  XR_FZ_CHECK(k <= cap - 1 - mlen && k + 3 >= cap - 1 - mlen);
  XR_FZ_CHECK(memcmp(out, full, k) == 0);
  XR_FZ_CHECK(k == 0 || ((unsigned char)full[k] & 0xc0) != 0x80);
}

typedef size_t (*xr_writer)(const char *q, size_t len, const void *arg, char *out, size_t cap);

static size_t w_sanitize(const char *q, size_t len, const void *arg, char *out, size_t cap)
{
  return xr_sql_sanitize(q, len, arg, out, cap);
}

static size_t w_raw(const char *q, size_t len, const void *arg, char *out, size_t cap)
{
  (void)arg;
  return xr_sql_raw(q, len, out, cap);
}

static size_t w_scrub(const char *q, size_t len, const void *arg, char *out, size_t cap)
{
  (void)len;
  (void)arg;
  return xr_sql_scrub_message(q, out, cap);
}

/* Runs w with an exact-size buffer of cap bytes; checks cap 0 writes nothing. */
static void run_small(xr_writer w, const char *q, size_t len, const void *arg, const char *full,
                      size_t full_n, size_t cap)
{
  char *out = malloc(cap ? cap : 1);
  size_t n;
  XR_FZ_CHECK(out != NULL);
  out[0] = 'Z';
  n = w(q, len, arg, out, cap);
  if (cap == 0) {
    XR_FZ_CHECK(n == 0 && out[0] == 'Z');
  } else {
    check_text(out, n, cap);
    check_cut(full, full_n, out, n, cap);
  }
  free(out);
}

static void check_scrub(const char *out, size_t n)
{
  size_t i, j, quotes = 0;
  XR_FZ_CHECK(memchr(out, '\n', n) == NULL);
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)out[i];
    XR_FZ_CHECK(c != '"' && c != '`');
    if (c == '\'') {
      /* Only the line's last quote can be an apostrophe (ab'secret' is a value). */
      XR_FZ_CHECK(++quotes == 1);
      /* An apostrophe (doesn't) stays: letters on both sides in the message; before it
       * the output may show the '?' of a hex number that ended in a letter (0xe'e). */
      unsigned char a = i ? (unsigned char)out[i - 1] : 0, b = (unsigned char)out[i + 1];
      XR_FZ_CHECK((((a | 0x20) >= 'a' && (a | 0x20) <= 'z') || a == '?') &&
                  ((b | 0x20) >= 'a' && (b | 0x20) <= 'z'));
    }
  }
  for (i = 0; i < n; i = j + 1) {
    bool digit = false, word = false;
    for (j = i; j < n; j++) {
      unsigned char c = (unsigned char)out[j];
      if (is_digit(c))
        digit = true;
      else if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_')
        word = true;
      else if (c != '.')
        break;
    }
    XR_FZ_CHECK(!digit || word);
  }
}

/* MySQL only: "--" directly followed by a space or the end, outside backquotes. */
static bool mysql_dash_comment(const char *s, size_t n)
{
  bool in_ident = false;
  size_t i;
  for (i = 0; i + 1 < n; i++) {
    if (s[i] == '`')
      in_ident = !in_ident;
    else if (!in_ident && s[i] == '-' && s[i + 1] == '-' && (i + 2 == n || s[i + 2] == ' '))
      return true;
  }
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct xr_sql_lex lex;
  const char *q;
  char *full, *again, *msg;
  size_t len, cap, n, n2, i, small;
  bool mysql;

  if (size < 1)
    return 0;
  mysql = data[0] & 1;
  lex.dialect = mysql ? XR_SQL_MYSQL : XR_SQL_POSTGRES;
  lex.backslash_escapes = (data[0] & 2) != 0;
  small = data[0] >> 2;
  q = (const char *)data + 1;
  len = size - 1;

  /* ---- sanitize ---- */
  cap = 2 * len + 16;
  full = malloc(cap);
  again = malloc(cap);
  XR_FZ_CHECK(full && again);
  n = xr_sql_sanitize(q, len, &lex, full, cap);
  check_text(full, n, cap);
  XR_FZ_CHECK(n <= len);
  check_literal_free(full, n, mysql);
  n2 = xr_sql_sanitize(full, n, &lex, again, cap);
  if (!(mysql && mysql_dash_comment(full, n))) {
    if (n2 != n || memcmp(full, again, n) != 0) {
      fprintf(stderr, "once:  %.2000s\ntwice: %.2000s\n", full, again);
      XR_FZ_CHECK(!"sanitizing the sanitized text changed it");
    }
  }
  run_small(w_sanitize, q, len, &lex, full, n, small);
  run_small(w_sanitize, q, len, &lex, full, n, n); /* one byte short */
  run_small(w_sanitize, q, len, &lex, full, n, n + 1);

  /* ---- raw ---- */
  n = xr_sql_raw(q, len, full, cap);
  check_text(full, n, cap);
  XR_FZ_CHECK(n == len);
  for (i = 0; i < len; i++)
    XR_FZ_CHECK(full[i] == q[i] || full[i] == '?');
  if (!memchr(q, '\0', len) && xr_fz_utf8_ok((const unsigned char *)q, len))
    XR_FZ_CHECK(memcmp(full, q, len) == 0);
  run_small(w_raw, q, len, NULL, full, n, small);
  run_small(w_raw, q, len, NULL, full, n, n);

  /* ---- scrub (a C string: up to the first NUL) ---- */
  msg = malloc(len + 1);
  XR_FZ_CHECK(msg != NULL);
  memcpy(msg, q, len);
  msg[len] = '\0';
  n = xr_sql_scrub_message(msg, full, cap);
  check_text(full, n, cap);
  XR_FZ_CHECK(n <= strcspn(msg, "\n"));
  check_scrub(full, n);
  run_small(w_scrub, msg, len, NULL, full, n, small);
  run_small(w_scrub, msg, len, NULL, full, n, n);
  XR_FZ_CHECK(xr_sql_scrub_message(NULL, full, cap) == 0 && full[0] == '\0');

  free(msg);
  free(full);
  free(again);
  return 0;
}
