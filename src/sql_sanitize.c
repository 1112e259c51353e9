#include "xr_setup.h"

#include "sql_sanitize.h"

#include "utf8.h"

#include <string.h>

/*
 * One pass over the text, no allocation: each token is either copied
 * (keywords, identifiers, operators, placeholders), replaced by '?'
 * (literals) or dropped (comments, whitespace, which leave one owed
 * separator). Writing stops at the first byte that does not fit; the cut
 * and the marker are placed at the end.
 */

struct xr_sql_out {
  char *buf;
  size_t cap;  /* > 0: room for the NUL */
  size_t len;
  bool space;  /* a separator is owed before the next byte */
  bool full;   /* a byte did not fit: the text is cut */
};

static void xr_out_init(struct xr_sql_out *o, char *buf, size_t cap)
{
  o->buf = buf;
  o->cap = cap;
  o->len = 0;
  o->space = false;
  o->full = false;
}

static void xr_out_byte(struct xr_sql_out *o, char c)
{
  if (o->space) {
    o->space = false;
    xr_out_byte(o, ' ');
  }
  if (o->full)
    return;
  /* Full means "more than cap-1 bytes exist", which a text exactly cap-1
   * bytes long must not trigger: only a byte that is really written can. */
  if (o->len + 1 >= o->cap) {
    o->full = true;
    return;
  }
  o->buf[o->len++] = c;
}

/* The same as n calls of xr_out_byte; one copy when everything fits. */
static void xr_out_bytes(struct xr_sql_out *o, const char *s, size_t n)
{
  size_t i;
  if (n == 0)
    return;
  if (o->space) {
    o->space = false;
    xr_out_byte(o, ' ');
  }
  if (!o->full && o->len + n < o->cap) {
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    return;
  }
  for (i = 0; i < n && !o->full; i++)
    xr_out_byte(o, s[i]);
}

/* Whitespace and comments: one space, and none at either end. */
static void xr_out_sep(struct xr_sql_out *o)
{
  if (o->len > 0)
    o->space = true;
}

/* Length of the well-formed UTF-8 sequence at s[i] (2..4), 0 if none;
 * never reads past len (xr_utf8_seq reads 4 bytes). */
static size_t xr_seq_at(const unsigned char *s, size_t i, size_t len)
{
  unsigned char tmp[4] = {0, 0, 0, 0};
  size_t k;
  if (len - i >= 4)
    return xr_utf8_seq(s + i);
  for (k = 0; i + k < len; k++)
    tmp[k] = s[i + k];
  return xr_utf8_seq(tmp);
}

/* Copies s[0..n) keeping well-formed UTF-8; every other byte, and NUL
 * (which would end the C string early), becomes '?'. */
static void xr_out_text(struct xr_sql_out *o, const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < n && !o->full) {
    size_t k;
    if (u[i] >= 0x80 && (k = xr_seq_at(u, i, n)) > 0) {
      xr_out_bytes(o, s + i, k);
      i += k;
    } else {
      xr_out_byte(o, u[i] == 0 || u[i] >= 0x80 ? '?' : s[i]);
      i++;
    }
  }
}

/* NUL-terminates; when cut, keeps what fits before the marker on a
 * character boundary (everything written is valid UTF-8 except perhaps a
 * partial last character, which the boundary search drops). Below the
 * marker's own length only a prefix of the marker fits. */
static size_t xr_out_finish(struct xr_sql_out *o)
{
  const size_t mlen = sizeof(XR_SQL_TRUNCATED) - 1;
  if (o->full) {
    size_t room = o->cap - 1, k;
    if (room < mlen) {
      memcpy(o->buf, XR_SQL_TRUNCATED, room);
      o->len = room;
    } else {
      k = room - mlen; /* < len == room: buf[k] was written */
      while (k > 0 && ((unsigned char)o->buf[k] & 0xc0) == 0x80)
        k--;
      memcpy(o->buf + k, XR_SQL_TRUNCATED, mlen);
      o->len = k + mlen;
    }
  }
  o->buf[o->len] = '\0';
  return o->len;
}

/* ------------------------------------------------------------------ */
/* Lexer                                                               */

static bool xr_is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

static bool xr_is_alpha(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Letters, digits, '_' and '$': the ASCII bytes of an identifier. */
static const unsigned char xr_ident_ascii[256] = {
    ['$'] = 1, ['_'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,
    ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static bool xr_is_ident_ascii(unsigned char c)
{
  return xr_ident_ascii[c] != 0;
}

/* ASCII punctuation that starts nothing in either dialect (no comment,
 * string, identifier, number, parameter): always copied as it is. */
static const unsigned char xr_plain_punct[256] = {
    ['!'] = 1, ['%'] = 1, ['&'] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1,
    [','] = 1, [':'] = 1, [';'] = 1, ['<'] = 1, ['='] = 1, ['>'] = 1, ['?'] = 1,
    ['@'] = 1, ['['] = 1, ['\\'] = 1, [']'] = 1, ['^'] = 1, ['{'] = 1, ['|'] = 1,
    ['}'] = 1, ['~'] = 1,
};

/* SQL whitespace plus every other control character: outside literals
 * they can only separate tokens (or be a syntax error), and NUL must not
 * reach the output. */
static bool xr_is_space(unsigned char c)
{
  return c <= 0x20 || c == 0x7f;
}

/* End of the identifier characters starting at i: letters, digits, '_',
 * '$' (both servers allow it after the first character) and well-formed
 * non-ASCII characters (both servers take any as a letter). */
static size_t xr_ident_end(const char *q, size_t i, size_t len)
{
  const unsigned char *u = (const unsigned char *)q;
  while (i < len) {
    size_t k;
    if (xr_is_ident_ascii(u[i]))
      i++;
    else if (u[i] >= 0x80 && (k = xr_seq_at(u, i, len)) > 0)
      i += k;
    else
      break;
  }
  return i;
}

/* q[i] opens a quoted run ending at the same quote; a doubled quote stays
 * inside, so does a backslash-escaped byte when backslash. Returns the
 * index after the closing quote, or len when unterminated (*closed false:
 * the rest of the text is inside). */
static size_t xr_skip_quoted(const char *q, size_t i, size_t len, bool backslash,
                             bool *closed)
{
  char quote = q[i++];
  *closed = false;
  while (i < len) {
    if (backslash && q[i] == '\\') {
      i += 2;
      continue;
    }
    if (q[i] == quote) {
      if (i + 1 < len && q[i + 1] == quote) {
        i += 2;
        continue;
      }
      *closed = true;
      return i + 1;
    }
    i++;
  }
  return len;
}

/* q[i] is a digit, or '.' before one. Covers 1, 1.5, 1., .5, 1e-3,
 * 1_000, 0x1F, 0b101, 0o17; whatever identifier characters stick to the
 * number go with it (MySQL's 0xZZ and 2fa identifiers, PostgreSQL's
 * trailing junk): removing them is the safe side. */
static size_t xr_skip_number(const char *q, size_t i, size_t len)
{
  if (q[i] == '0' && i + 1 < len &&
      (q[i + 1] == 'x' || q[i + 1] == 'X' || q[i + 1] == 'b' ||
       q[i + 1] == 'B' || q[i + 1] == 'o' || q[i + 1] == 'O'))
    return xr_ident_end(q, i + 2, len);
  while (i < len && (xr_is_digit((unsigned char)q[i]) || q[i] == '_'))
    i++;
  if (i < len && q[i] == '.' && !(i + 1 < len && q[i + 1] == '.')) {
    i++;
    while (i < len && (xr_is_digit((unsigned char)q[i]) || q[i] == '_'))
      i++;
  }
  if (i < len && (q[i] == 'e' || q[i] == 'E')) {
    size_t j = i + 1;
    if (j < len && (q[j] == '+' || q[j] == '-'))
      j++;
    if (j < len && xr_is_digit((unsigned char)q[j]))
      i = j;
  }
  return xr_ident_end(q, i, len);
}

/* Index after the comment opened by "/ *" at i; len when unterminated.
 * PostgreSQL nests them, MySQL ends at the first star-slash. The search
 * starts after the opener, so a slash-star-slash never closes itself. */
static size_t xr_skip_block_comment(const char *q, size_t i, size_t len,
                                    bool nested)
{
  unsigned depth = 1;
  i += 2;
  while (i + 1 < len) {
    if (q[i] == '*' && q[i + 1] == '/') {
      i += 2;
      if (--depth == 0)
        return i;
    } else if (nested && q[i] == '/' && q[i + 1] == '*') {
      i += 2;
      depth++;
    } else {
      i++;
    }
  }
  return len;
}

/* Index of the end of a line comment starting at i: PostgreSQL ends it at
 * CR or LF, MySQL at LF only (its CR stays inside the comment). */
static size_t xr_skip_line_comment(const char *q, size_t i, size_t len,
                                   bool cr_ends)
{
  while (i < len && q[i] != '\n' && !(cr_ends && q[i] == '\r'))
    i++;
  return i;
}

/* PostgreSQL's '$': "$n" parameter, "$tag$...$tag$" / "$$...$$" body, or
 * a lone '$'. Returns the index after what it consumed. */
static size_t xr_pg_dollar(const char *q, size_t i, size_t len,
                           struct xr_sql_out *o)
{
  const unsigned char *u = (const unsigned char *)q;
  size_t t = i + 1;
  const char *close;

  if (t < len && xr_is_digit(u[t])) {
    while (t < len && xr_is_digit(u[t]))
      t++;
    xr_out_bytes(o, q + i, t - i);
    return t;
  }
  /* A tag is an identifier without '$', not starting with a digit. */
  if (t < len && (xr_is_alpha(u[t]) || u[t] == '_' || u[t] >= 0x80)) {
    while (t < len &&
           (xr_is_alpha(u[t]) || xr_is_digit(u[t]) || u[t] == '_' || u[t] >= 0x80))
      t++;
  }
  if (t >= len || q[t] != '$') {
    xr_out_byte(o, '$');
    return i + 1;
  }
  t++; /* q[i..t) is the opening tag, dollars included */
  close = memmem(q + t, len - t, q + i, t - i);
  xr_out_byte(o, '?');
  return close ? (size_t)(close - q) + (t - i) : len;
}

/* A one-letter identifier glued to a quote that makes a string prefix:
 * PostgreSQL E'' (backslash escapes always), B'' X'' (none), N''
 * (standard), U&''; MySQL X'' B'' (none), N'' (standard). *bs receives
 * the backslash rule; returns the index of the opening quote, 0 if the
 * identifier is no prefix. */
static size_t xr_string_prefix(const char *q, size_t i, size_t end, size_t len,
                               const struct xr_sql_lex *lex, bool *bs)
{
  char c;
  if (end - i != 1 || end >= len)
    return 0;
  c = q[i];
  if (c >= 'a' && c <= 'z')
    c = (char)(c - 'a' + 'A');
  if (q[end] == '\'') {
    switch (c) {
    case 'E':
      *bs = true;
      return lex->dialect == XR_SQL_POSTGRES ? end : 0;
    case 'B':
    case 'X':
      *bs = false;
      return end;
    case 'N':
      *bs = lex->backslash_escapes;
      return end;
    default:
      return 0;
    }
  }
  if (c == 'U' && lex->dialect == XR_SQL_POSTGRES && q[end] == '&' &&
      end + 1 < len && q[end + 1] == '\'') {
    *bs = false; /* U& strings exist only with standard strings */
    return end + 1;
  }
  return 0;
}

/* The byte after u[i], 0 at the end. */
static unsigned char xr_byte_after(const unsigned char *u, size_t i, size_t len)
{
  return i + 1 < len ? u[i + 1] : 0;
}

/* q[i] starts an identifier (a letter, '_', MySQL's '$', a well-formed
 * non-ASCII character): a keyword or identifier is kept, a string prefix
 * and its string become '?'. Returns the index after the token. */
static size_t xr_sql_word(const char *q, size_t i, size_t len,
                          const struct xr_sql_lex *lex, struct xr_sql_out *o)
{
  size_t end = xr_ident_end(q, i, len);
  bool bs, closed;
  size_t quote = xr_string_prefix(q, i, end, len, lex, &bs);

  if (quote) {
    xr_out_byte(o, '?');
    return xr_skip_quoted(q, quote, len, bs, &closed);
  }
  /* MySQL's _charset'..' introducer stays: the string after it is the
   * next token. The identifier is ASCII identifier bytes and well-formed
   * UTF-8 sequences only (xr_ident_end), all of which xr_out_text would
   * copy unchanged. */
  xr_out_bytes(o, q + i, end - i);
  return end;
}

size_t xr_sql_sanitize(const char *q, size_t len, const struct xr_sql_lex *lex,
                       char *out, size_t cap)
{
  const unsigned char *u = (const unsigned char *)q;
  const bool pg = lex->dialect == XR_SQL_POSTGRES;
  struct xr_sql_out o;
  size_t i = 0;

  if (cap == 0)
    return 0;
  xr_out_init(&o, out, cap);
  while (i < len && !o.full) {
    unsigned char c = u[i];
    size_t k;
    bool closed;

    if (xr_is_alpha(c) || c == '_') {
      /* The common token first: a keyword or an identifier, or a string
       * prefix (none of the tests below takes a letter or '_'). */
      i = xr_sql_word(q, i, len, lex, &o);
    } else if (xr_is_space(c)) {
      xr_out_sep(&o);
      for (i++; i < len && xr_is_space(u[i]); i++)
        ;
    } else if (xr_plain_punct[c]) {
      xr_out_byte(&o, (char)c);
      i++;
    } else if (xr_is_digit(c)) {
      i = xr_skip_number(q, i, len);
      xr_out_byte(&o, '?');
    } else if (c == '-' && xr_byte_after(u, i, len) == '-' &&
               (pg || i + 2 >= len || xr_is_space(u[i + 2]))) {
      /* MySQL: "--" needs whitespace or a control character after it,
       * else 1--1 is arithmetic. */
      i = xr_skip_line_comment(q, i, len, pg);
      xr_out_sep(&o);
    } else if (c == '#' && !pg) {
      i = xr_skip_line_comment(q, i, len, false);
      xr_out_sep(&o);
    } else if (c == '/' && xr_byte_after(u, i, len) == '*') {
      /* MySQL's executable comments (slash-star-bang) and optimizer hints
       * go too: they may hold literals like any other SQL. */
      i = xr_skip_block_comment(q, i, len, pg);
      xr_out_sep(&o);
    } else if (c == '\'' || (c == '"' && !pg)) {
      i = xr_skip_quoted(q, i, len, lex->backslash_escapes, &closed);
      xr_out_byte(&o, '?');
    } else if ((c == '"' && pg) || (c == '`' && !pg)) {
      /* A quoted identifier is kept; an unterminated one may really be
       * a literal the server reads otherwise, so it is removed. */
      k = xr_skip_quoted(q, i, len, false, &closed);
      if (closed)
        xr_out_text(&o, q + i, k - i);
      else
        xr_out_byte(&o, '?');
      i = k;
    } else if (c == '$' && pg) {
      i = xr_pg_dollar(q, i, len, &o);
    } else if (c == '.' && xr_is_digit(xr_byte_after(u, i, len))) {
      i = xr_skip_number(q, i, len);
      xr_out_byte(&o, '?');
    } else if ((c == '$' && !pg) || (c >= 0x80 && xr_seq_at(u, i, len) > 0)) {
      i = xr_sql_word(q, i, len, lex, &o);
    } else if (c >= 0x80) {
      xr_out_byte(&o, '?'); /* not UTF-8 */
      i++;
    } else {
      xr_out_byte(&o, (char)c);
      i++;
    }
  }
  return xr_out_finish(&o);
}

size_t xr_sql_raw(const char *q, size_t len, char *out, size_t cap)
{
  struct xr_sql_out o;
  if (cap == 0)
    return 0;
  xr_out_init(&o, out, cap);
  xr_out_text(&o, q, len);
  return xr_out_finish(&o);
}

/* ------------------------------------------------------------------ */
/* Server messages                                                     */

/* Quotation marks of translated server messages (lc_messages): an opener
 * and the marks that may close it. */
static const struct {
  const char *open;
  const char *close[2];
} xr_uquotes[] = {
    {"\xe2\x80\x9c", {"\xe2\x80\x9d", "\xe2\x80\x9c"}}, /* “ ” */
    {"\xe2\x80\x9e", {"\xe2\x80\x9c", "\xe2\x80\x9d"}}, /* „ “ ” */
    {"\xe2\x80\x9d", {"\xe2\x80\x9d", NULL}},           /* ” ” */
    {"\xe2\x80\x98", {"\xe2\x80\x99", NULL}},           /* ‘ ’ */
    {"\xe2\x80\x9a", {"\xe2\x80\x98", "\xe2\x80\x99"}}, /* ‚ ‘ ’ */
    {"\xc2\xab", {"\xc2\xbb", NULL}},                   /* « » */
    {"\xc2\xbb", {"\xc2\xab", "\xc2\xbb"}},             /* » « » */
    {"\xe2\x80\xb9", {"\xe2\x80\xba", NULL}},           /* ‹ › */
    {"\xe2\x80\xba", {"\xe2\x80\xb9", "\xe2\x80\xba"}}, /* › ‹ › */
    {"\xe3\x80\x8c", {"\xe3\x80\x8d", NULL}},           /* 「 」 */
    {"\xe3\x80\x8e", {"\xe3\x80\x8f", NULL}},           /* 『 』 */
};

static bool xr_msg_word_char(unsigned char c)
{
  return xr_is_alpha(c) || xr_is_digit(c) || c == '_' || c >= 0x80;
}

/* Index after the quoted run opened at m[i] (an ASCII quote), eol when
 * unterminated. Messages echo values with their quotes unescaped
 * (Duplicate entry 'o'brien', invalid input syntax: "x" tail"), so no
 * quote inside can be trusted to close the run: it ends at the last quote
 * of the same kind on the line that no ASCII word character follows
 * (translations may glue a letter to it: "x"は). Whatever text follows a
 * value inside the run is lost with it (for key 'PRIMARY'); the type of
 * the error (SQLSTATE, error number) still says what happened. */
static size_t xr_msg_skip_quoted(const char *m, size_t i, size_t eol)
{
  const unsigned char *u = (const unsigned char *)m;
  char quote = m[i];
  size_t k, end = eol;
  for (k = i + 1; k < eol; k++)
    if (m[k] == quote && (k + 1 == eol || u[k + 1] >= 0x80 || !xr_msg_word_char(u[k + 1])))
      end = k + 1;
  return end;
}

/* MySQL's syntax errors quote the statement's rest unescaped: near '...'
 * at line N. The run ends at the last "' at line " of the line, or with
 * it. */
static size_t xr_msg_skip_near(const char *m, size_t i, size_t eol)
{
  static const char tail[] = "' at line ";
  const size_t tlen = sizeof(tail) - 1;
  size_t k, end = eol;
  for (k = i + 1; k + tlen <= eol; k++)
    if (memcmp(m + k, tail, tlen) == 0)
      end = k + 1;
  return end;
}

/* Index after a translated quotation opened at m[i], i if m[i] opens
 * none, eol if it is not closed on the line. */
static size_t xr_msg_skip_uquote(const char *m, size_t i, size_t eol)
{
  size_t t, k, j;
  for (t = 0; t < XR_ARRAY_SIZE(xr_uquotes); t++) {
    size_t olen = strlen(xr_uquotes[t].open);
    if (eol - i < olen || memcmp(m + i, xr_uquotes[t].open, olen) != 0)
      continue;
    for (k = i + olen; k < eol; k++)
      for (j = 0; j < 2; j++) {
        const char *c = xr_uquotes[t].close[j];
        size_t clen = c ? strlen(c) : 0;
        if (c && eol - k >= clen && memcmp(m + k, c, clen) == 0)
          return k + clen;
      }
    return eol;
  }
  return i;
}

/* A word (ASCII letters, digits, '_') starting with a digit at m[i]:
 * its end in *end; true when it is a number (digits with inner dots, or
 * 0x and hex digits), false for 42P01-like codes. */
static bool xr_msg_number(const char *m, size_t i, size_t eol, size_t *end)
{
  const unsigned char *u = (const unsigned char *)m;
  size_t k = i;
  bool number = true, hex = false;

  if (m[k] == '0' && k + 2 < eol && (m[k + 1] == 'x' || m[k + 1] == 'X')) {
    hex = true;
    k += 2;
  }
  for (; k < eol; k++) {
    unsigned char c = u[k];
    if (c == '.' && !hex && k + 1 < eol && xr_is_digit(u[k + 1]) &&
        xr_is_digit(u[k - 1]))
      continue;
    if (c >= 0x80 || !xr_msg_word_char(c))
      break;
    if (!xr_is_digit(c) &&
        !(hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))))
      number = false;
  }
  *end = k;
  return number;
}

size_t xr_sql_scrub_message(const char *msg, char *out, size_t cap)
{
  const unsigned char *u = (const unsigned char *)msg;
  struct xr_sql_out o;
  size_t i = 0, eol;

  if (cap == 0)
    return 0;
  xr_out_init(&o, out, cap);
  if (!msg)
    return xr_out_finish(&o);
  eol = strcspn(msg, "\n");
  while (i < eol && !o.full) {
    unsigned char c = u[i];
    size_t k;

    if (xr_is_space(c)) {
      xr_out_sep(&o);
      i++;
    } else if (c == '\'' && i >= 5 && memcmp(msg + i - 5, "near ", 5) == 0) {
      i = xr_msg_skip_near(msg, i, eol);
      xr_out_byte(&o, '?');
    } else if (c == '\'' && i > 0 && i + 1 < eol && u[i - 1] < 0x80 &&
               xr_is_alpha(u[i - 1]) && xr_is_alpha(u[i + 1]) &&
               !memchr(msg + i + 1, '\'', eol - i - 1)) {
      /* An apostrophe (doesn't), only when no quote follows on the line:
       * ab'secret' is a quoted value glued to a word, not an apostrophe. */
      xr_out_byte(&o, '\'');
      i++;
    } else if (c == '\'' || c == '"' || c == '`') {
      i = xr_msg_skip_quoted(msg, i, eol);
      xr_out_byte(&o, '?');
    } else if (c >= 0x80 && (k = xr_msg_skip_uquote(msg, i, eol)) != i) {
      i = k;
      xr_out_byte(&o, '?');
    } else if (xr_is_digit(c)) {
      if (xr_msg_number(msg, i, eol, &k))
        xr_out_byte(&o, '?');
      else
        xr_out_bytes(&o, msg + i, k - i);
      i = k;
    } else if (xr_is_alpha(c) || c == '_') {
      /* Whole words, so that the digits of utf8mb4 stay. */
      k = i;
      while (k < eol && u[k] < 0x80 && xr_msg_word_char(u[k]))
        k++;
      xr_out_bytes(&o, msg + i, k - i);
      i = k;
    } else if (c >= 0x80) {
      k = xr_seq_at(u, i, eol);
      if (k == 0) {
        xr_out_byte(&o, '?');
        i++;
      } else {
        xr_out_bytes(&o, msg + i, k);
        i += k;
      }
    } else {
      xr_out_byte(&o, (char)c);
      i++;
    }
  }
  return xr_out_finish(&o);
}
