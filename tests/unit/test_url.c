/* src/url.c: parsing and cleaning URLs for recording. */
#include "util.h"

#include "../../src/url.h"

#include <errno.h>

struct url_case {
  const char *in;
  int rc;
  const char *clean; /* expected clean form when rc == 0 */
  const char *host;
  int port;          /* xr_url_port() */
  const char *query; /* expected query, NULL when absent */
};

static const struct url_case cases[] = {
    {"http://example.com/path", 0, "http://example.com/path", "example.com", 80, NULL},
    {"https://example.com/a/b.json", 0, "https://example.com/a/b.json", "example.com", 443, NULL},
    /* userinfo removed */
    {"http://user:pass@example.com/p", 0, "http://example.com/p", "example.com", 80, NULL},
    {"http://user@example.com/p", 0, "http://example.com/p", "example.com", 80, NULL},
    {"https://user:p@ss@example.com/p", 0, "https://example.com/p", "example.com", 443, NULL},
    {"https://user:p%40ss:w@example.com:8443/p", 0, "https://example.com:8443/p", "example.com",
     8443, NULL},
    {"http://:secret@example.com/", 0, "http://example.com/", "example.com", 80, NULL},
    {"user:secret@example.com/x", 0, "http://example.com/x", "example.com", 80, NULL},
    /* query and fragment removed */
    {"http://example.com/p?token=secret", 0, "http://example.com/p", "example.com", 80,
     "token=secret"},
    {"http://example.com/p?a=1&b=2#frag", 0, "http://example.com/p", "example.com", 80, "a=1&b=2"},
    {"http://example.com/p#frag", 0, "http://example.com/p", "example.com", 80, NULL},
    {"http://example.com/p#frag?notquery", 0, "http://example.com/p", "example.com", 80, NULL},
    {"http://example.com?q=1", 0, "http://example.com/", "example.com", 80, "q=1"},
    {"http://example.com#f", 0, "http://example.com/", "example.com", 80, NULL},
    {"http://example.com/?", 0, "http://example.com/", "example.com", 80, ""},
    /* default ports dropped, others kept */
    {"http://example.com:80/p", 0, "http://example.com/p", "example.com", 80, NULL},
    {"https://example.com:443/p", 0, "https://example.com/p", "example.com", 443, NULL},
    {"http://example.com:443/p", 0, "http://example.com:443/p", "example.com", 443, NULL},
    {"https://example.com:80/p", 0, "https://example.com:80/p", "example.com", 80, NULL},
    {"http://example.com:8080/p", 0, "http://example.com:8080/p", "example.com", 8080, NULL},
    {"http://example.com:65535/", 0, "http://example.com:65535/", "example.com", 65535, NULL},
    {"http://example.com:1/", 0, "http://example.com:1/", "example.com", 1, NULL},
    {"http://example.com:/p", 0, "http://example.com/p", "example.com", 80, NULL},
    /* IPv6 literals */
    {"http://[::1]:8080/x", 0, "http://[::1]:8080/x", "::1", 8080, NULL},
    {"http://[::1]/x", 0, "http://[::1]/x", "::1", 80, NULL},
    {"https://[2001:DB8::1]:443", 0, "https://[2001:db8::1]/", "2001:db8::1", 443, NULL},
    {"http://u:p@[fe80::1]:81/?x", 0, "http://[fe80::1]:81/", "fe80::1", 81, "x"},
    /* case: scheme and host lowered, path kept */
    {"HTTP://Example.COM/Path/To", 0, "http://example.com/Path/To", "example.com", 80, NULL},
    {"HttpS://EXAMPLE.com:8443/X?Y", 0, "https://example.com:8443/X", "example.com", 8443, "Y"},
    /* no scheme: http (curl's guess) */
    {"example.com/path", 0, "http://example.com/path", "example.com", 80, NULL},
    {"example.com", 0, "http://example.com/", "example.com", 80, NULL},
    {"localhost:8080/x?y", 0, "http://localhost:8080/x", "localhost", 8080, "y"},
    {"127.0.0.1:3000", 0, "http://127.0.0.1:3000/", "127.0.0.1", 3000, NULL},
    {"  http://example.com/lead", 0, "http://example.com/lead", "example.com", 80, NULL},
    /* other schemes */
    {"ftp://files.example.com/f.txt", 0, "ftp://files.example.com/f.txt", "files.example.com", 21,
     NULL},
    {"ws://example.com:80/s", 0, "ws://example.com/s", "example.com", 80, NULL},
    {"gopher://example.com/", 0, "gopher://example.com/", "example.com", -1, NULL},
    {"gopher://example.com:70/", 0, "gopher://example.com:70/", "example.com", 70, NULL},
    /* malformed */
    {"", -EINVAL, NULL, NULL, 0, NULL},
    {"http://", -EINVAL, NULL, NULL, 0, NULL},
    {"http:///path", -EINVAL, NULL, NULL, 0, NULL},
    {"http://:80/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://user:pass@/p", -EINVAL, NULL, NULL, 0, NULL},
    {"http://user:pass@:80/p", -EINVAL, NULL, NULL, 0, NULL},
    {"http://example.com:abc/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://example.com:80a/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://example.com:-1/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://example.com:65536/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://example.com:99999999999999999999/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://example.com:1:2/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://[::1/x", -EINVAL, NULL, NULL, 0, NULL},
    {"http://[::1", -EINVAL, NULL, NULL, 0, NULL},
    {"http://[]:80/", -EINVAL, NULL, NULL, 0, NULL},
    {"http://[::1]:8o/", -EINVAL, NULL, NULL, 0, NULL},
    {"abcdefghijklmnopq://example.com/", -EINVAL, NULL, NULL, 0, NULL},
};

static void test_table(void **state)
{
  size_t i;
  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(cases); i++) {
    const struct url_case *c = &cases[i];
    struct xr_url u;
    char buf[512];
    int rc;

    print_message("  \"%s\"\n", c->in);
    rc = xr_url_parse(c->in, &u);
    assert_int_equal(rc, c->rc);
    if (rc != 0)
      continue;
    assert_string_equal(u.host, c->host);
    assert_int_equal(xr_url_port(&u), c->port);
    assert_int_equal(u.ipv6, strchr(c->host, ':') != NULL);
    if (c->query) {
      assert_non_null(u.query);
      assert_int_equal(u.query_len, strlen(c->query));
      assert_memory_equal(u.query, c->query, u.query_len);
    } else {
      assert_null(u.query);
    }
    rc = xr_url_clean(&u, buf, sizeof(buf));
    assert_int_equal(rc, (int)strlen(c->clean));
    assert_string_equal(buf, c->clean);
    /* Nothing secret ever survives. */
    assert_null(strstr(buf, "secret"));
    assert_null(strstr(buf, "pass"));
    assert_null(strchr(buf, '@'));
    assert_null(strchr(buf, '?'));
    assert_null(strchr(buf, '#'));
  }
}

static void test_parse_fields(void **state)
{
  struct xr_url u;
  (void)state;
  assert_int_equal(xr_url_parse("HTTPS://u:p@Host.Example:8443/a/b?c=d#e", &u), 0);
  assert_string_equal(u.scheme, "https");
  assert_string_equal(u.host, "host.example");
  assert_false(u.ipv6);
  assert_int_equal(u.port, 8443);
  assert_int_equal(u.path_len, 4);
  assert_memory_equal(u.path, "/a/b", 4);
  assert_int_equal(u.query_len, 3);
  assert_memory_equal(u.query, "c=d", 3);

  assert_int_equal(xr_url_parse("http://h", &u), 0);
  assert_int_equal(u.port, -1);
  assert_string_equal(u.path, "");
  assert_int_equal(u.path_len, 0);
  assert_null(u.query);

  assert_int_equal(xr_url_parse(NULL, &u), -EINVAL);
}

static void test_default_ports(void **state)
{
  (void)state;
  assert_int_equal(xr_url_default_port("http"), 80);
  assert_int_equal(xr_url_default_port("https"), 443);
  assert_int_equal(xr_url_default_port("ws"), 80);
  assert_int_equal(xr_url_default_port("wss"), 443);
  assert_int_equal(xr_url_default_port("ftp"), 21);
  assert_int_equal(xr_url_default_port("gopher"), -1);
  assert_int_equal(xr_url_default_port(""), -1);
}

static void test_host_length(void **state)
{
  char url[600], host[300];
  struct xr_url u;
  (void)state;
  memset(host, 'h', 255);
  host[255] = '\0';
  snprintf(url, sizeof(url), "http://%s/p", host);
  assert_int_equal(xr_url_parse(url, &u), 0);
  assert_string_equal(u.host, host);
  memset(host, 'h', 256);
  host[256] = '\0';
  snprintf(url, sizeof(url), "http://%s/p", host);
  assert_int_equal(xr_url_parse(url, &u), -EINVAL);
}

/* A buffer too small: -ENOSPC, a cut NUL-terminated URL, nothing past len,
 * never the query. */
static void test_clean_too_small(void **state)
{
  const char *in = "https://user:pw@example.com:8443/some/path?secret=1";
  const char *want = "https://example.com:8443/some/path";
  size_t wl = strlen(want), len;
  struct xr_url u;
  char buf[128];
  (void)state;
  assert_int_equal(xr_url_parse(in, &u), 0);
  for (len = 1; len <= wl; len++) {
    memset(buf, 'Z', sizeof(buf));
    assert_int_equal(xr_url_clean(&u, buf, len), -ENOSPC);
    assert_int_equal(strlen(buf), len - 1);
    assert_memory_equal(buf, want, len - 1);
    assert_int_equal(buf[len], 'Z');
  }
  assert_int_equal(xr_url_clean(&u, buf, 0), -ENOSPC);
  assert_int_equal(xr_url_clean(&u, buf, wl + 1), (int)wl);
  assert_string_equal(buf, want);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table),
      cmocka_unit_test(test_parse_fields),
      cmocka_unit_test(test_default_ports),
      cmocka_unit_test(test_host_length),
      cmocka_unit_test(test_clean_too_small),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
