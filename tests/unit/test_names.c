/* src/names.c: segment and subsegment name sanitizing. */
#include "util.h"

#include "../../src/names.h"
#include "../../src/utf8.h"

#define OUT_CAP (XR_NAME_MAX_BYTES + 1)

static void check(const char *in, const char *want)
{
  char out[OUT_CAP];
  size_t n;
  memset(out, 'Z', sizeof(out));
  n = xr_sanitize_name(in, out, sizeof(out));
  assert_string_equal(out, want);
  assert_int_equal(n, strlen(want));
}

static void test_table(void **state)
{
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"example.com", "example.com"},
      {"db@10.0.0.5", "db@10.0.0.5"},
      {"ABC xyz 0123456789", "ABC xyz 0123456789"},
      {"_.:/%&#=+\\-@", "_.:/%&#=+\\-@"},
      {"tab\there", "tab\there"},
      {"a?b;c*d(e)f!g$h~i^j<k>l", "abcdefghijkl"},
      {"?;*()!$~^<>", ""},
      {"", ""},
      {"quote\"s and 'apostrophes' `and` {braces} [brackets] |pipes| ,commas,",
       "quotes and apostrophes and braces brackets pipes commas"},
      {"new\nline\rcr\x01" "ctl\x7f" "del", "newlinecrctldel"},
      /* UTF-8 letters are kept whole */
      {"caf\xc3\xa9", "caf\xc3\xa9"},
      {"\xe6\x97\xa5\xe6\x9c\xac", "\xe6\x97\xa5\xe6\x9c\xac"},
      {"emoji\xf0\x9f\x98\x80!", "emoji\xf0\x9f\x98\x80"},
      /* invalid UTF-8 bytes are dropped */
      {"a\xffz", "az"},
      {"a\x80z", "az"},                /* lone continuation */
      {"a\xc3z", "az"},                /* truncated sequence */
      {"a\xe6\x97z", "az"},            /* truncated 3-byte sequence */
      {"a\xc3", "a"},                  /* truncated at the end */
      {"a\xc0\xafz", "az"},            /* C0: always overlong */
      {"a\xf5\x80\x80\x80z", "az"},    /* beyond U+10FFFF */
      {"\xfe\xff" "ok", "ok"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    print_message("  [%zu]\n", i);
    check(cases[i].in, cases[i].want);
  }
}

/* Regression (a bug these tests found): the UTF-8 check (then
 * xr_utf8_len() in src/names.c, now xr_utf8_seq() in src/utf8.h) looked at
 * the lead byte range and continuation bytes only, so overlong 3- and
 * 4-byte forms (E0 80..9F, F0 80..8F), UTF-16 surrogates (ED A0..BF) and
 * code points above U+10FFFF (F4 90..BF) were kept, although names.h
 * promises that invalid UTF-8 is removed. */
static void test_strict_utf8(void **state)
{
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"a\xe0\x80\xafz", "az"},         /* overlong '/' (3 bytes) */
      {"a\xed\xa0\x80z", "az"},         /* surrogate U+D800 */
      {"a\xf0\x80\x80\xafz", "az"},     /* overlong '/' (4 bytes) */
      {"a\xf4\x90\x80\x80z", "az"},     /* U+110000 */
  };
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    char out[OUT_CAP];
    print_message("  [%zu]\n", i);
    (void)xr_sanitize_name(cases[i].in, out, sizeof(out));
    assert_true(ut_utf8_valid(out, strlen(out)));
    assert_string_equal(out, cases[i].want);
  }
}

/* xr_utf8_seq (shared by names and the document writer) against a strict
 * reference, for every lead byte and every second byte. */
static void test_utf8_seq(void **state)
{
  unsigned b0, b1, b2;
  (void)state;
  for (b0 = 0x80; b0 < 0x100; b0++)
    for (b1 = 0; b1 < 0x100; b1++)
      for (b2 = 0x7f; b2 <= 0x80; b2++) {
        unsigned char buf[5] = {(unsigned char)b0, (unsigned char)b1, (unsigned char)b2, 0x80, 0};
        size_t lead = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
        size_t want = lead && ut_utf8_valid((const char *)buf, lead) ? lead : 0, got;
        got = xr_utf8_seq(buf);
        if (got != want)
          fail_msg("%02x %02x %02x 80: got %zu, want %zu", b0, b1, b2, got, want);
      }
  /* Stops at a NUL: a sequence cut by the terminator is not one. */
  assert_int_equal(xr_utf8_seq((const unsigned char *)"\xe2\x82"), 0);
  assert_int_equal(xr_utf8_seq((const unsigned char *)"\xf0\x9f\x98"), 0);
  assert_int_equal(xr_utf8_seq((const unsigned char *)"\xc3"), 0);
  assert_int_equal(xr_utf8_seq((const unsigned char *)"a"), 0);
}

static void test_cut_at_200_ascii(void **state)
{
  char in[400], want[201];
  (void)state;
  memset(in, 'a', 300);
  in[300] = '\0';
  memset(want, 'a', 200);
  want[200] = '\0';
  check(in, want);
  /* Removed characters do not count. */
  memset(in, '?', 100);
  memset(in + 100, 'b', 250);
  in[350] = '\0';
  memset(want, 'b', 200);
  check(in, want);
  /* Exactly 200 is kept. */
  memset(in, 'c', 200);
  in[200] = '\0';
  check(in, in);
}

/* 200 characters, not bytes: multi-byte characters are counted once and
 * never split. */
static void test_cut_counts_characters(void **state)
{
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  size_t k;
  (void)state;
  for (k = 0; k < XR_ARRAY_SIZE(chars); k++) {
    char in[2000] = "", want[1000] = "", out[OUT_CAP];
    size_t i, n;
    for (i = 0; i < 250; i++)
      strcat(in, chars[k]);
    for (i = 0; i < 200; i++)
      strcat(want, chars[k]);
    n = xr_sanitize_name(in, out, sizeof(out));
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(ut_utf8_chars(out), 200);
  }
  /* Mixed: 199 ASCII then a 3-byte character then more. */
  {
    char in[400], out[OUT_CAP];
    memset(in, 'x', 199);
    strcpy(in + 199, "\xe2\x82\xac" "yyy");
    (void)xr_sanitize_name(in, out, sizeof(out));
    assert_int_equal(strlen(out), 202);
    assert_string_equal(out + 199, "\xe2\x82\xac");
  }
}

/* A small output buffer: NUL-terminated, never a split character. */
static void test_small_output(void **state)
{
  char out[8];
  size_t n;
  (void)state;
  memset(out, 'Z', sizeof(out));
  n = xr_sanitize_name("abcdefghijkl", out, sizeof(out));
  assert_int_equal(n, 7);
  assert_string_equal(out, "abcdefg");
  n = xr_sanitize_name("abcde\xe2\x82\xac", out, 8); /* 5 + 3 > 7 */
  assert_int_equal(n, 5);
  assert_string_equal(out, "abcde");
  n = xr_sanitize_name("abcd\xe2\x82\xac", out, 8); /* exactly 7 */
  assert_int_equal(n, 7);
  assert_string_equal(out, "abcd\xe2\x82\xac");
  n = xr_sanitize_name("abc", out, 1);
  assert_int_equal(n, 0);
  assert_string_equal(out, "");
  out[0] = 'Z';
  n = xr_sanitize_name("abc", out, 0);
  assert_int_equal(n, 0);
  assert_int_equal(out[0], 'Z'); /* untouched */
}

/* Every byte value alone, and the result is always valid UTF-8 made of
 * allowed characters. */
static void test_every_byte(void **state)
{
  unsigned c;
  (void)state;
  for (c = 1; c < 256; c++) {
    char in[4] = {'a', (char)c, 'b', '\0'};
    char out[OUT_CAP];
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                   (c >= '0' && c <= '9') || c == ' ' || c == '\t' ||
                   (c < 0x80 && strchr("_.:/%&#=+\\-@", (int)c));
    (void)xr_sanitize_name(in, out, sizeof(out));
    if (allowed) {
      assert_int_equal(strlen(out), 3);
      assert_int_equal((unsigned char)out[1], c);
    } else {
      assert_string_equal(out, "ab");
    }
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_strict_utf8),
      cmocka_unit_test(test_utf8_seq),
      cmocka_unit_test(test_cut_at_200_ascii),
      cmocka_unit_test(test_cut_counts_characters),
      cmocka_unit_test(test_small_output),
      cmocka_unit_test(test_every_byte),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
