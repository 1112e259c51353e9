/* src/sql_sanitize.c: statement sanitizing for both dialects, the raw form
 * and server messages; tables of inputs and the exact text expected. */
#include "util.h"

#include "../../src/sql_sanitize.h"

#include <string.h>

#define CAP (XR_SQL_QUERY_MAX + 1)

struct sql_case {
  enum xr_sql_dialect dialect;
  bool bs; /* backslash_escapes */
  const char *in;
  const char *want;
};

#define PG(in, want) {XR_SQL_POSTGRES, false, in, want}
#define PGB(in, want) {XR_SQL_POSTGRES, true, in, want}
#define MY(in, want) {XR_SQL_MYSQL, true, in, want}
#define MYN(in, want) {XR_SQL_MYSQL, false, in, want}

static const struct sql_case sql_cases[] = {
    /* PostgreSQL: strings */
    PG("SELECT 1", "SELECT ?"),
    PG("SELECT * FROM users WHERE name = 'alice'", "SELECT * FROM users WHERE name = ?"),
    PG("SELECT 'it''s'", "SELECT ?"),
    PG("SELECT 'a''b''c', 'd'", "SELECT ?, ?"),
    PG("SELECT '''', ''", "SELECT ?, ?"),
    PG("SELECT 'say \"hi\"' AS q", "SELECT ? AS q"),
    PG("SELECT 'C:\\dir\\' AS p", "SELECT ? AS p"),   /* backslash is no escape */
    PGB("SELECT 'it\\'s' AS p", "SELECT ? AS p"),    /* standard_conforming_strings=off */
    PG("SELECT 'it\\'s' AS p", "SELECT ?s?"),        /* 'it\' s ' AS p... */
    PG("SELECT E'it\\'s', e'\\n'", "SELECT ?, ?"),
    PG("SELECT E'a''b\\\\', 'c'", "SELECT ?, ?"),
    PG("SELECT E'\\\\' , 'x'", "SELECT ? , ?"),
    PG("SELECT U&'d\\0061t\\+000061' UESCAPE '!'", "SELECT ? UESCAPE ?"),
    PG("SELECT U&\"d\\0061t\" FROM t", "SELECT U&\"d\\0061t\" FROM t"),
    PG("SELECT B'1010', X'1F', b'1', x'ff', N'nat', n'x'", "SELECT ?, ?, ?, ?, ?, ?"),
    PG("SELECT 'a' 'b', 'c'\n'd'", "SELECT ? ?, ? ?"),
    PG("SELECT INTERVAL '1 day', DATE '2020-01-01'", "SELECT INTERVAL ?, DATE ?"),
    PG("SELECT j->>'k', j ? 'a', j #> '{a,b}'", "SELECT j->>?, j ? ?, j #> ?"),
    /* PostgreSQL: dollar quotes */
    PG("SELECT $$it's$$", "SELECT ?"),
    PG("SELECT $fn$ BEGIN RETURN 'x'; END $fn$, 1", "SELECT ?, ?"),
    PG("DO $outer$ SELECT $inner$ x $inner$ $outer$; SELECT 1", "DO ?; SELECT ?"),
    PG("SELECT $a$ x $b$ y $a$ AS v", "SELECT ? AS v"),
    PG("SELECT $_t1$x$_t1$, $Ü$y$Ü$", "SELECT ?, ?"),
    PG("SELECT $a$x$A$ $a$", "SELECT ?"), /* tags are case-sensitive */
    PG("SELECT $1, $2::int FROM t WHERE a = $10", "SELECT $1, $2::int FROM t WHERE a = $10"),
    PG("SELECT a$1, b$$ FROM t", "SELECT a$1, b$$ FROM t"),
    PG("SELECT $ FROM t", "SELECT $ FROM t"),
    PG("SELECT $$abc", "SELECT ?"),
    PG("SELECT $t$abc $t", "SELECT ?"),
    /* PostgreSQL: identifiers, numbers, casts, placeholders */
    PG("SELECT \"Weird \"\"Name\"\"\" FROM \"T1\"", "SELECT \"Weird \"\"Name\"\"\" FROM \"T1\""),
    PG("SELECT t1.col_2, x9 FROM s3.t4", "SELECT t1.col_2, x9 FROM s3.t4"),
    PG("SELECT 123, 1.5, .5, 1e-3, 1E+10, 0x1F, 0b101, 0o17, 1_000, 5.",
       "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"),
    PG("SELECT -5, +3, 2-1, a-1, a - -1", "SELECT -?, +?, ?-?, a-?, a - -?"),
    PG("SELECT '5'::int, CAST(3 AS bigint), x::text[]", "SELECT ?::int, CAST(? AS bigint), x::text[]"),
    PG("SELECT * FROM t WHERE id IN (1, 2, 'x')", "SELECT * FROM t WHERE id IN (?, ?, ?)"),
    PG("SELECT ? , :name, @v", "SELECT ? , :name, @v"),
    PG("SELECT e, E, x FROM t", "SELECT e, E, x FROM t"),
    PG("SELECT a # b, `x`", "SELECT a # b, `x`"),
    PG("SELECT 12abc", "SELECT ?"),
    /* PostgreSQL: comments */
    PG("SELECT 1 -- it's\nFROM t", "SELECT ? FROM t"),
    PG("SELECT 1 --no space needed", "SELECT ?"),
    PG("SELECT 1 -- c\rFROM t", "SELECT ? FROM t"),
    PG("SELECT-- c\n1", "SELECT ?"),
    PG("SELECT 1 ----- c", "SELECT ?"),
    PG("SELECT /* a /* b */ c */ 1", "SELECT ?"),
    PG("SELECT /* /* /* */ */ */ 1", "SELECT ?"),
    PG("/* leading */ SELECT 1 /* trailing */", "SELECT ?"),
    PG("a/**/b", "a b"),
    PG("SELECT 1/*c*/+/*d*/2", "SELECT ? + ?"),
    PG("SELECT /*/ x */ 1", "SELECT ?"),
    PG("SELECT '/* x */', '-- y'", "SELECT ?, ?"),
    /* PostgreSQL: unterminated */
    PG("SELECT 'abc", "SELECT ?"),
    PG("SELECT 'abc FROM t WHERE x = 1", "SELECT ?"),
    PG("SELECT E'abc\\'", "SELECT ?"),
    PG("SELECT \"abc", "SELECT ?"),
    PG("SELECT \"a\"\"", "SELECT ?"),
    PG("SELECT 1 /* abc", "SELECT ?"),
    PG("SELECT 1 /* a /* b */ c", "SELECT ?"),
    PG("SELECT 1 -- abc", "SELECT ?"),
    /* PostgreSQL: statements, whitespace, text */
    PG("BEGIN; INSERT INTO t VALUES (1, 'x'); COMMIT;", "BEGIN; INSERT INTO t VALUES (?, ?); COMMIT;"),
    PG("SELECT 1;SELECT 2;", "SELECT ?;SELECT ?;"),
    PG("  SELECT\t\n 1 \r\n  ", "SELECT ?"),
    PG("SELECT\f1\v,\x01" "2", "SELECT ? , ?"),
    PG("", ""),
    PG("   ", ""),
    PG("  -- c\n /* d */ ", ""),
    PG("SELECT \"名前\", naïve FROM tbl_ü", "SELECT \"名前\", naïve FROM tbl_ü"),
    PG("SELECT 'héllo wörld 日本' AS ✓", "SELECT ? AS ✓"),
    PG("SELECT a\xff\xfe" "b", "SELECT a??b"),
    PG("SELECT '\xff\xc0', \"x\xffy\"", "SELECT ?, \"x?y\""),
    PG("SELECT \xc0\xaf" "x", "SELECT ??x"),       /* overlong */
    PG("SELECT \xed\xa0\x80", "SELECT ???"),      /* surrogate */
    PG("SELECT \xe6\x97", "SELECT ??"),           /* cut sequence at the end */

    /* MySQL: strings */
    MY("SELECT * FROM t WHERE a = 'x' AND b = \"y\"", "SELECT * FROM t WHERE a = ? AND b = ?"),
    MY("SELECT 'it\\'s', \"say \\\"hi\\\"\"", "SELECT ?, ?"),
    MY("SELECT 'it''s', \"a\"\"b\"", "SELECT ?, ?"),
    MY("SELECT 'a\\\\', 'b'", "SELECT ?, ?"),
    MYN("SELECT 'C:\\' , \"D:\\\"", "SELECT ? , ?"),
    MYN("SELECT 'it\\'s'", "SELECT ?s?"),
    MY("SELECT x'1F', X'ab', b'101', B'0', 0x1F, 0b11, N'abc', n'd'",
       "SELECT ?, ?, ?, ?, ?, ?, ?, ?"),
    MY("SELECT _utf8mb4'abc', _latin1\"x\", _binary 'y'", "SELECT _utf8mb4?, _latin1?, _binary ?"),
    MY("SELECT 'x' 'y'", "SELECT ? ?"),
    MY("SELECT E'x'", "SELECT E?"), /* no E strings */
    MY("SELECT '#x', '-- y', '/*z*/', 1", "SELECT ?, ?, ?, ?"),
    /* MySQL: identifiers, numbers, placeholders */
    MY("SELECT `my``col`, `t1`.`c2` FROM `db`.`tbl`", "SELECT `my``col`, `t1`.`c2` FROM `db`.`tbl`"),
    MY("SELECT * FROM t WHERE a = ? AND b IN (?, ?)", "SELECT * FROM t WHERE a = ? AND b IN (?, ?)"),
    MY("SELECT @v := 5, @@session.sql_mode", "SELECT @v := ?, @@session.sql_mode"),
    MY("SELECT $x, a$b, $$x$$ FROM t", "SELECT $x, a$b, $$x$$ FROM t"),
    MY("SELECT 2fa FROM t1", "SELECT ? FROM t1"), /* digit-first identifiers go */
    MY("SELECT a-1, a - -1, -5 FROM t WHERE a=-1", "SELECT a-?, a - -?, -? FROM t WHERE a=-?"),
    MY("SELECT 'ü', `ü`, ü FROM t", "SELECT ?, `ü`, ü FROM t"),
    /* MySQL: comments */
    MY("SELECT 1 # comment\n, 2", "SELECT ? , ?"),
    MY("SELECT 1 -- comment\n, 2", "SELECT ? , ?"),
    MY("SELECT 1--1", "SELECT ?--?"),
    MY("SELECT 1 --1", "SELECT ? --?"),
    MY("SELECT 1 --\tc\n", "SELECT ?"),
    MY("SELECT 1 --\x01x", "SELECT ?"),
    MY("SELECT 1 --", "SELECT ?"),
    MY("SELECT 1 # c\rx\nFROM t", "SELECT ? FROM t"), /* CR does not end it */
    MY("SELECT /*! STRAIGHT_JOIN */ a FROM t /*+ BKA(t) */", "SELECT a FROM t"),
    MY("SELECT /*!50001 'x' */ 1", "SELECT ?"),
    MY("SELECT /* a /* b */ c */ 1", "SELECT c */ ?"), /* no nesting */
    MY("a/**/b", "a b"),
    /* MySQL: unterminated, statements */
    MY("SELECT \"abc", "SELECT ?"),
    MY("SELECT 'abc\\", "SELECT ?"),
    MY("SELECT 'abc\\'", "SELECT ?"),
    MY("SELECT `abc", "SELECT ?"),
    MY("SELECT 1 /* x", "SELECT ?"),
    MY("INSERT INTO t VALUES (1,'a'),(2,'b'); SELECT LAST_INSERT_ID()",
       "INSERT INTO t VALUES (?,?),(?,?); SELECT LAST_INSERT_ID()"),
    MY("", ""),
    MY("SELECT a\x80" "b", "SELECT a?b"),
};

/* Every output: within the bound, NUL-terminated, valid UTF-8, the
 * returned length its length. */
static void check_output(const char *out, size_t n, size_t cap)
{
  assert_true(n < cap);
  assert_int_equal(strlen(out), n);
  assert_true(ut_utf8_valid(out, n));
}

/* want is what the full bound gives; every smaller bound gives want
 * itself when it fits, else a prefix of it cut on a character boundary
 * and the marker. */
static void check_all_caps(const char *in, size_t len, const struct xr_sql_lex *lex,
                           const char *want)
{
  const size_t mlen = strlen(XR_SQL_TRUNCATED), wlen = strlen(want);
  size_t cap;
  for (cap = 1; cap <= wlen + 2; cap++) {
    char out[CAP];
    size_t n;
    memset(out, 'Z', sizeof(out));
    n = xr_sql_sanitize(in, len, lex, out, cap);
    check_output(out, n, cap);
    if (wlen < cap) {
      assert_string_equal(out, want);
    } else if (cap - 1 < mlen) {
      assert_int_equal(n, cap - 1);
      assert_memory_equal(out, XR_SQL_TRUNCATED, n);
    } else {
      assert_true(n >= mlen);
      assert_string_equal(out + n - mlen, XR_SQL_TRUNCATED);
      size_t kept = n - mlen, next;
      unsigned char lead = (unsigned char)want[kept];
      assert_memory_equal(out, want, kept);
      /* Cut on a boundary, and as much as fits: the next character
       * would not. */
      assert_true((lead & 0xc0) != 0x80);
      next = lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
      assert_true(kept + next + mlen > cap - 1);
    }
  }
}

static void test_sanitize_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(sql_cases); i++) {
    const struct sql_case *c = &sql_cases[i];
    struct xr_sql_lex lex = {c->dialect, c->bs};
    char out[CAP];
    size_t n;

    print_message("  %s%s: %s\n", c->dialect == XR_SQL_POSTGRES ? "pg" : "mysql",
                  c->bs ? "+bs" : "", c->in);
    n = xr_sql_sanitize(c->in, strlen(c->in), &lex, out, sizeof(out));
    check_output(out, n, sizeof(out));
    assert_string_equal(out, c->want);
    check_all_caps(c->in, strlen(c->in), &lex, c->want);
  }
}

/* ------------------------------------------------------------------ */
/* Bounds                                                              */

struct cut_case {
  const char *in;
  size_t cap;
  const char *want;
};

static const struct cut_case cut_cases[] = {
    {"SELECT 1", 9, "SELECT ?"},     /* exactly cap-1: no marker */
    {"SELECT 1", 8, "SELE..."},
    {"SELECT 1", 4, "..."},
    {"SELECT 1", 3, ".."},
    {"SELECT 1", 2, "."},
    {"SELECT 1", 1, ""},
    {"SELECT 1   ", 9, "SELECT ?"},  /* trailing space is not output */
    {"SELECT 'a long literal'", 9, "SELECT ?"},
    {"SELECT 日本", 14, "SELECT 日本"},
    {"SELECT 日本", 13, "SELECT ..."}, /* 本 would be cut: 日 goes too */
    {"SELECT 日本", 12, "SELECT ..."},
    {"SELECT 日本", 11, "SELECT ..."},
    {"SELECT 日本", 10, "SELECT..."},
    {"a😀b", 7, "a😀b"},
    {"a😀b", 6, "a..."},
    {"a😀b", 5, "a..."},
    {"😀😀", 9, "😀😀"},
    {"😀😀", 8, "😀..."},
    {"😀😀", 7, "..."},
    {"", 1, ""},
};

static void test_cut_table(void **state)
{
  const struct xr_sql_lex lex = {XR_SQL_POSTGRES, false};
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cut_cases); i++) {
    const struct cut_case *c = &cut_cases[i];
    char out[64];
    size_t n;
    print_message("  cap %zu: %s\n", c->cap, c->in);
    memset(out, 'Z', sizeof(out));
    n = xr_sql_sanitize(c->in, strlen(c->in), &lex, out, c->cap);
    check_output(out, n, c->cap);
    assert_string_equal(out, c->want);
    assert_int_equal(out[c->cap], 'Z'); /* nothing past the bound */
  }
}

static void test_cap_zero(void **state)
{
  const struct xr_sql_lex lex = {XR_SQL_MYSQL, true};
  char out[4] = {'Z', 'Z', 'Z', 'Z'};
  (void)state;
  assert_int_equal(xr_sql_sanitize("SELECT 1", 8, &lex, out, 0), 0);
  assert_int_equal(xr_sql_raw("SELECT 1", 8, out, 0), 0);
  assert_int_equal(xr_sql_scrub_message("x 'y'", out, 0), 0);
  assert_memory_equal(out, "ZZZZ", 4);
  assert_int_equal(xr_sql_sanitize(NULL, 0, &lex, out, 1), 0);
  assert_string_equal(out, "");
}

/* A statement far past the bound: exactly XR_SQL_QUERY_MAX bytes out. */
static void test_default_bound(void **state)
{
  const struct xr_sql_lex lex = {XR_SQL_POSTGRES, false};
  static char q[5000];
  char out[CAP];
  size_t n, i;
  (void)state;
  memcpy(q, "SELECT ", 7);
  for (i = 7; i + 1 < sizeof(q); i += 2)
    memcpy(q + i, "a,", 2);
  n = xr_sql_sanitize(q, sizeof(q) - 1, &lex, out, sizeof(out));
  assert_int_equal(n, XR_SQL_QUERY_MAX);
  assert_string_equal(out + n - 3, XR_SQL_TRUNCATED);
  assert_memory_equal(out, q, n - 3);

  /* Literals shrink: 4990 bytes of them are 7 + 384 * 2 - 1 out. */
  for (i = 7; i + 13 <= sizeof(q); i += 13)
    memcpy(q + i, "'xxxxxxxxxx',", 13);
  q[i - 1] = '\0';
  n = xr_sql_sanitize(q, strlen(q), &lex, out, sizeof(out));
  assert_int_equal(n, 7 + 384 * 2 - 1);
  assert_memory_equal(out, "SELECT ?,?,?", 12);
  assert_string_equal(out + n - 3, "?,?");
}

/* The length is the bound, not a NUL: input without one, and NULs inside. */
static void test_length_not_nul(void **state)
{
  const struct xr_sql_lex lex = {XR_SQL_MYSQL, true};
  static const char q[] = "SELECT 'a\0b', c\0d; SELECT 9";
  char out[64];
  size_t n;
  (void)state;
  n = xr_sql_sanitize(q, sizeof(q) - 1, &lex, out, sizeof(out));
  assert_int_equal(n, strlen(out));
  assert_string_equal(out, "SELECT ?, c d; SELECT ?");
  n = xr_sql_sanitize(q, 10, &lex, out, sizeof(out)); /* SELECT 'a\0b */
  assert_string_equal(out, "SELECT ?");
  n = xr_sql_sanitize("SELECT 12345", 8, &lex, out, sizeof(out));
  assert_string_equal(out, "SELECT ?");
  n = xr_sql_raw(q, sizeof(q) - 1, out, sizeof(out));
  assert_int_equal(n, strlen(out));
  assert_string_equal(out, "SELECT 'a?b', c?d; SELECT 9");
}

/* ------------------------------------------------------------------ */
/* Raw                                                                 */

struct raw_case {
  const char *in;
  size_t cap;
  const char *want;
};

static const struct raw_case raw_cases[] = {
    {"SELECT 'secret' -- as given", CAP, "SELECT 'secret' -- as given"},
    {"  keep\t spacing\n ", CAP, "  keep\t spacing\n "},
    {"a\xff" "b\xc0\xaf", CAP, "a?b??"},
    {"日本語", 10, "日本語"},
    {"日本語", 9, "日..."},
    {"日本語", 8, "日..."},
    {"日本語", 6, "..."},
    {"abcdef", 6, "ab..."},
    {"abcdef", 7, "abcdef"},
    {"abc", 2, "."},
    {"", CAP, ""},
};

static void test_raw_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(raw_cases); i++) {
    const struct raw_case *c = &raw_cases[i];
    char out[CAP];
    size_t n;
    print_message("  cap %zu: %s\n", c->cap, c->in);
    n = xr_sql_raw(c->in, strlen(c->in), out, c->cap);
    check_output(out, n, c->cap);
    assert_string_equal(out, c->want);
  }
}

/* ------------------------------------------------------------------ */
/* Server messages                                                     */

struct msg_case {
  const char *in;
  const char *want;
};

static const struct msg_case msg_cases[] = {
    {"invalid input syntax for type integer: \"s3cr3t\"",
     "invalid input syntax for type integer: ?"},
    {"Duplicate entry 'x' for key 'PRIMARY'", "Duplicate entry ?"},
    {"Duplicate entry 'o'brien' for key 'PRIMARY'", "Duplicate entry ?"},
    /* An echoed value may hold a quote and anything after it. */
    {"invalid input syntax for type integer: \"x\" LEAKTAIL\"",
     "invalid input syntax for type integer: ?"},
    {"Duplicate entry 'x' LEAKTAIL' for key 'PRIMARY'", "Duplicate entry ?"},
    {"You have an error in your SQL syntax; check the manual that corresponds to your "
     "MariaDB server version for the right syntax to use near 'secret' at line 1",
     "You have an error in your SQL syntax; check the manual that corresponds to your "
     "MariaDB server version for the right syntax to use near ? at line ?"},
    {"... to use near 'FROM t WHERE x = 'secret'' at line 1", "... to use near ? at line ?"},
    {"... to use near '' at line 1", "... to use near ? at line ?"},
    {"... to use near 'x = 'secret\nAND y' at line 2", "... to use near ?"},
    {"... to use near 'a' at line 1' at line 3", "... to use near ? at line ?"},
    {"relation \"secret_table\" does not exist", "relation ? does not exist"},
    {"Table 'xrdb.nosuch' doesn't exist", "Table ? doesn't exist"},
    {"Access denied for user 'xrapp'@'localhost' (using password: YES)",
     "Access denied for user ? (using password: YES)"},
    {"COLLATION 'utf8mb4_bin' is not valid for CHARACTER SET 'latin1'",
     "COLLATION ?"},
    {"Unknown column `secret` in 'field list'", "Unknown column ? in ?"},
    {"Incorrect value 'it''s' here", "Incorrect value ? here"},
    {"value too long for type character varying(10)", "value too long for type character varying(?)"},
    {"Out of range value for column 'c' at row 1", "Out of range value for column ? at row ?"},
    {"SQLSTATE 42P01 utf8mb4 1.5 -3 0x1F 0xZZ 10.11.19-MariaDB",
     "SQLSTATE 42P01 utf8mb4 ? -? ? 0xZZ ?-MariaDB"},
    {"invalid input: \"abc", "invalid input: ?"},
    {"invalid input: 'abc def", "invalid input: ?"},
    {"ERROR: x\nDETAIL: Key (id)=(5) already exists.", "ERROR: x"},
    {"  a \t b \r\n c", "a b"},
    {"Relation »geheim« existiert nicht", "Relation ? existiert nicht"},
    {"la relation « secret » n'existe pas", "la relation ? n'existe pas"},
    {"关系 “secret” 不存在", "关系 ? 不存在"},
    {"リレーション「secret」は存在しません", "リレーション?は存在しません"},
    {"リレーション\"secret\"は存在しません", "リレーション?は存在しません"},
    {"Relation „geheim“ fehlt", "Relation ? fehlt"},
    {"bad \xff byte", "bad ? byte"},
    {"integer out of range", "integer out of range"},
    {"", ""},
};

static void test_message_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(msg_cases); i++) {
    const struct msg_case *c = &msg_cases[i];
    char out[512];
    size_t n;
    print_message("  %s\n", c->in);
    n = xr_sql_scrub_message(c->in, out, sizeof(out));
    check_output(out, n, sizeof(out));
    assert_string_equal(out, c->want);
  }
}

static void test_message_bounds(void **state)
{
  char out[16];
  size_t n;
  (void)state;
  n = xr_sql_scrub_message(NULL, out, sizeof(out));
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
  n = xr_sql_scrub_message("relation 'x' does not exist", out, 12);
  assert_string_equal(out, "relation...");
  n = xr_sql_scrub_message("relation 'x' is", out, 16);
  assert_string_equal(out, "relation ? is");
  n = xr_sql_scrub_message("è è è è è è è è", out, 9);
  assert_int_equal(n, strlen(out));
  assert_string_equal(out, "è è...");
}

/* ------------------------------------------------------------------ */
/* Canaries: the word must never come out                             */

#define ALL 0xf
#define PGS 0x1 /* PostgreSQL, standard strings */
#define PGE 0x2 /* PostgreSQL, backslash escapes */
#define MYB 0x4 /* MySQL, backslash escapes */
#define MYS 0x8 /* MySQL, NO_BACKSLASH_ESCAPES */

struct canary {
  unsigned where;
  const char *in;
};

static const struct canary canaries[] = {
    {ALL, "SELECT 'SECRET'"},
    {ALL, "SELECT 'a''SECRET'"},
    {ALL, "SELECT 'SECRET''', 'x'"},
    {ALL, "/* SECRET */ SELECT 1"},
    {ALL, "SELECT 1 /*SECRET*/"},
    {ALL, "SELECT 1 -- SECRET"},
    {ALL, "SELECT 1 -- SECRET\n"},
    {ALL, "SELECT 'SECRET"},
    {ALL, "SELECT 'x', 'y SECRET"},
    {ALL, "SELECT 1 /* SECRET"},
    {ALL, "SELECT N'SECRET', X'SECRET', B'SECRET'"},
    {ALL, "SELECT 'x'/* SECRET */'y'"},
    {ALL, "INSERT INTO t VALUES ('a', 'SECRET');"},
    {ALL, "SELECT 'caf\xc3\xa9 SECRET \xff'"},
    {ALL, "SELECT 'x' FROM t WHERE a = 'SECRET' OR b = 'SECRET'"},
    {PGS | PGE | MYB, "SELECT 'a\\\\', 'SECRET'"},
    {PGE | MYB, "SELECT 'it\\'s SECRET'"},
    {PGS, "SELECT 'C:\\', 'SECRET'"},
    {MYS, "SELECT 'C:\\', 'SECRET'"},
    {PGS | PGE, "SELECT E'\\'SECRET'"},
    {PGS | PGE, "SELECT E'x\\\\', E'\\'SECRET\\''"},
    {PGS | PGE, "SELECT e'SECRET'"},
    {PGS, "SELECT U&'SECRET'"},
    {PGS | PGE, "SELECT $$SECRET$$"},
    {PGS | PGE, "SELECT $t$SECRET$t$"},
    {PGS | PGE, "SELECT $a$ $b$ SECRET $b$ $a$"},
    {PGS | PGE, "SELECT $a$ 'x' $a$, 'SECRET'"},
    {PGS | PGE, "SELECT $tag$ SECRET"},
    {PGS | PGE, "SELECT /* a /* b */ SECRET */ 1"},
    {PGS | PGE, "SELECT 1 -- x\r'SECRET'"},
    {PGS | PGE, "SELECT 1 --SECRET"},
    {MYB | MYS, "SELECT \"SECRET\""},
    {MYB | MYS, "SELECT \"a\"\"SECRET\""},
    {MYB, "SELECT \"a\\\"SECRET\""},
    {MYB | MYS, "SELECT 1 # SECRET"},
    {MYB | MYS, "SELECT 1 # x\rSECRET"},
    {MYB | MYS, "SELECT 1 --\tSECRET"},
    {MYB | MYS, "SELECT /*! SECRET */ 1"},
    {MYB | MYS, "SELECT /*+ SECRET */ 1"},
    {MYB | MYS, "SELECT _utf8mb4'SECRET', _binary\"SECRET\""},
    {MYB | MYS, "SELECT x'SECRET', b'SECRET', n'SECRET'"},
    {MYB | MYS, "SELECT `x` FROM t WHERE a = \"SECRET"},
};

static void test_canaries(void **state)
{
  static const struct xr_sql_lex lexes[] = {{XR_SQL_POSTGRES, false},
                                            {XR_SQL_POSTGRES, true},
                                            {XR_SQL_MYSQL, true},
                                            {XR_SQL_MYSQL, false}};
  size_t i, l;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(canaries); i++)
    for (l = 0; l < XR_ARRAY_SIZE(lexes); l++) {
      char out[CAP];
      size_t cap;
      if (!(canaries[i].where & (1u << l)))
        continue;
      print_message("  %u: %s\n", (unsigned)l, canaries[i].in);
      /* At every bound: a cut never exposes more. */
      for (cap = 1; cap <= strlen(canaries[i].in) + 1; cap++) {
        (void)xr_sql_sanitize(canaries[i].in, strlen(canaries[i].in), &lexes[l], out, cap);
        assert_null(strstr(out, "SECRET"));
        assert_null(strstr(out, "SECR"));
      }
    }
}

static const char *const message_canaries[] = {
    "invalid input syntax for type integer: \"SECRET\"",
    "Duplicate entry 'SECRET' for key 'PRIMARY'",
    "Duplicate entry 'a'SECRET' for key 'PRIMARY'",
    "Duplicate entry 'a' 'SECRET' for key 'PRIMARY'",
    "... near 'x = 'SECRET'' at line 1",
    "... near 'x = \"SECRET\" AND y = 'z'' at line 1",
    "... near 'SECRET' at line 1' at line 2",
    "... near 'x\nSECRET' at line 2",
    "value: 'SECRET",
    "value: ab'SECRET'",
    "value: 0xab'SECRET'",
    "Key (k)=(ab'SECRET') already exists",
    "can't use ab'SECRET' here",
    "value: `SECRET`",
    "value: ``SECRET``",
    "value: »SECRET«",
    "value: «SECRET",
    "value: “SECRET”",
    "value: 「SECRET」",
    "first line\nSECRET",
};

static void test_message_canaries(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(message_canaries); i++) {
    char out[256];
    print_message("  %s\n", message_canaries[i]);
    (void)xr_sql_scrub_message(message_canaries[i], out, sizeof(out));
    assert_null(strstr(out, "SECRET"));
  }
}

/* Numbers are values too: a card number in any position. */
static void test_number_canaries(void **state)
{
  static const char *const qs[] = {
      "SELECT 4111111111111111", "SELECT * FROM t WHERE card=4111111111111111",
      "SELECT -4111111111111111", "SELECT 4111111111111111.5e3",
      "SELECT 4111_1111_1111_1111", "SELECT .4111111111111111",
      "SELECT 0x4111111111111111", "SELECT 1,4111111111111111",
  };
  static const struct xr_sql_lex lexes[] = {{XR_SQL_POSTGRES, false},
                                            {XR_SQL_MYSQL, true}};
  size_t i, l;
  char out[CAP];
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(qs); i++)
    for (l = 0; l < XR_ARRAY_SIZE(lexes); l++) {
      (void)xr_sql_sanitize(qs[i], strlen(qs[i]), &lexes[l], out, sizeof(out));
      assert_null(strstr(out, "1111"));
    }
  (void)xr_sql_scrub_message("Duplicate entry 4111111111111111 for key", out, sizeof(out));
  assert_string_equal(out, "Duplicate entry ? for key");
}

/* ------------------------------------------------------------------ */
/* Random text: the invariants hold for whatever comes in              */

static uint32_t rng_state = 0x12345678u;

static uint32_t rng(void)
{
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

static void test_random(void **state)
{
  static const char *const frags[] = {
      "'", "\"", "`", "$", "$$", "$a$", "\\", "--", "-- ", "#", "/*", "*/", "/*!",
      "E'", "U&'", "x'", "_utf8'", "0x", "1", ".5", "e-", "\n", "\r", " ", "\t",
      "SELECT", "a", "?", ";", "é", "日", "😀", "\xff", "\xc3", "\xe6\x97", "\x80", "\0",
      "''", "\\'", "$1", "::", "(", ")", ",",
  };
  size_t iter;
  (void)state;
  for (iter = 0; iter < 20000; iter++) {
    char q[256], out[300];
    size_t len = 0, cap, n, k;
    struct xr_sql_lex lex = {rng() & 1 ? XR_SQL_POSTGRES : XR_SQL_MYSQL, (rng() & 2) != 0};
    size_t nfrag = rng() % 24;
    for (k = 0; k < nfrag; k++) {
      const char *f = frags[rng() % XR_ARRAY_SIZE(frags)];
      size_t fl = f[0] ? strlen(f) : 1; /* "\0" is one NUL byte */
      if (len + fl > sizeof(q))
        break;
      memcpy(q + len, f, fl);
      len += fl;
    }
    cap = 1 + rng() % (sizeof(out) - 1);
    memset(out, 'Z', sizeof(out));
    n = xr_sql_sanitize(q, len, &lex, out, cap);
    check_output(out, n, cap);
    assert_int_equal(out[cap], 'Z');
    n = xr_sql_raw(q, len, out, cap);
    check_output(out, n, cap);
    if (len < sizeof(q)) {
      q[len] = '\0';
      n = xr_sql_scrub_message(q, out, cap);
      check_output(out, n, cap);
    }
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sanitize_table),
      cmocka_unit_test(test_cut_table),
      cmocka_unit_test(test_cap_zero),
      cmocka_unit_test(test_default_bound),
      cmocka_unit_test(test_length_not_nul),
      cmocka_unit_test(test_raw_table),
      cmocka_unit_test(test_message_table),
      cmocka_unit_test(test_message_bounds),
      cmocka_unit_test(test_canaries),
      cmocka_unit_test(test_message_canaries),
      cmocka_unit_test(test_number_canaries),
      cmocka_unit_test(test_random),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
