/* src/sql_call.c: one database operation recorded as a subsegment. */
#include "util.h"

#include "../../src/entity.h"
#include "../../src/sql_call.h"

#include <errno.h>

#define TRACE "1-5759e988-bd862e3fe1be46a994272793"

/* The document for sub as it goes on the wire. */
static cJSON *wire(struct xr_entity *sub)
{
  static char buf[65536];
  int n;
  cJSON *doc;

  strcpy(sub->trace_id, TRACE);
  strcpy(sub->parent_id, "53995c3f42cd8ad8");
  sub->end_us = sub->start_us + 100;
  n = xr_entity_write(sub, true, false, buf, sizeof(buf) - XR_WRITE_SLACK - 1);
  assert_true(n > 0);
  buf[n] = '\0';
  assert_true(ut_utf8_valid(buf, (size_t)n));
  doc = cJSON_Parse(buf);
  if (!doc)
    fail_msg("not JSON: %s", buf);
  return doc;
}

static struct xr_db_info pg(void)
{
  struct xr_db_info db;
  memset(&db, 0, sizeof(db));
  db.engine = XR_DB_POSTGRES;
  xr_db_set_host(&db, "db.internal");
  db.port = 5432;
  xr_db_set(db.database, "orders");
  xr_db_set(db.user, "app");
  xr_db_set(db.server_version, "15.18 (Debian 15.18-0+deb12u1)");
  xr_db_set(db.driver, "libpq 15.18");
  db.lex.dialect = XR_SQL_POSTGRES;
  return db;
}

static struct xr_db_info my(const char *version)
{
  struct xr_db_info db;
  memset(&db, 0, sizeof(db));
  db.engine = XR_DB_MYSQL;
  xr_db_set_host(&db, NULL);
  db.port = 3306;
  xr_db_set(db.database, "shop");
  xr_db_set(db.user, "web");
  xr_db_set(db.server_version, version);
  xr_db_set(db.driver, "libmariadb 3.3.20");
  db.lex.dialect = XR_SQL_MYSQL;
  db.lex.backslash_escapes = true;
  return db;
}

static void test_query_fields(void **state)
{
  struct xr_db_info db = pg();
  struct xr_entity *sub = xr_entity_new(false, NULL);
  const char q[] = "SELECT * FROM t WHERE name = 'alice' AND id = 42";
  cJSON *doc, *sql, *meta;

  (void)state;
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, q, strlen(q),
                                XR_SQL_SANITIZED), 0);
  doc = wire(sub);
  assert_string_equal(ut_str(doc, "name"), "orders@db.internal");
  assert_string_equal(ut_str(doc, "namespace"), "remote");
  sql = cJSON_GetObjectItemCaseSensitive(doc, "sql");
  assert_string_equal(ut_str(sql, "url"), "postgresql://db.internal:5432/orders");
  assert_string_equal(ut_str(sql, "database_type"), "PostgreSQL");
  assert_string_equal(ut_str(sql, "database_version"), "15.18 (Debian 15.18-0+deb12u1)");
  assert_string_equal(ut_str(sql, "driver_version"), "libpq 15.18");
  assert_string_equal(ut_str(sql, "user"), "app");
  assert_string_equal(ut_str(sql, "sanitized_query"), "SELECT * FROM t WHERE name = ? AND id = ?");
  assert_null(cJSON_GetObjectItemCaseSensitive(sql, "preparation"));
  meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
  assert_string_equal(ut_str(cJSON_GetObjectItemCaseSensitive(meta, "xray_auto"), "operation"),
                      "query");
  assert_false(ut_is_true(doc, "fault"));
  cJSON_Delete(doc);
  xr_entity_free(sub);
}

static void test_modes(void **state)
{
  struct xr_db_info db = pg();
  const char q[] = "UPDATE t SET pw = 'hunter2' WHERE id = $1";
  static const struct {
    enum xr_sql_mode mode;
    const char *want; /* NULL: absent */
  } rows[] = {
      {XR_SQL_SANITIZED, "UPDATE t SET pw = ? WHERE id = $1"},
      {XR_SQL_RAW, "UPDATE t SET pw = 'hunter2' WHERE id = $1"},
      {XR_SQL_OFF, NULL},
  };
  size_t i;

  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(rows); i++) {
    struct xr_entity *sub = xr_entity_new(false, NULL);
    cJSON *doc, *sql;
    assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, true, q, strlen(q),
                                  rows[i].mode), 0);
    doc = wire(sub);
    sql = cJSON_GetObjectItemCaseSensitive(doc, "sql");
    assert_string_equal(ut_str(sql, "preparation"), "statement");
    if (rows[i].want)
      assert_string_equal(ut_str(sql, "sanitized_query"), rows[i].want);
    else
      assert_null(cJSON_GetObjectItemCaseSensitive(sql, "sanitized_query"));
    cJSON_Delete(doc);
    xr_entity_free(sub);
  }
}

static void test_mysql_types_and_hosts(void **state)
{
  struct xr_db_info maria = my("10.11.19-MariaDB-0+deb12u1");
  struct xr_db_info mysql = my("8.0.36");
  struct xr_db_info nodb = my("8.0.36");
  struct xr_entity *sub;
  cJSON *doc, *sql;

  (void)state;
  assert_string_equal(xr_db_type(&maria), "MariaDB");
  assert_string_equal(xr_db_type(&mysql), "MySQL");
  mysql.server_version[0] = '\0';
  assert_null(xr_db_type(&mysql));
  nodb.database[0] = '\0';
  sub = xr_entity_new(false, NULL);
  assert_int_equal(xr_sql_begin(sub, &nodb, XR_SQL_OP_CONNECT, false, NULL, 0,
                                XR_SQL_SANITIZED), 0);
  doc = wire(sub);
  assert_string_equal(ut_str(doc, "name"), "localhost");
  sql = cJSON_GetObjectItemCaseSensitive(doc, "sql");
  assert_string_equal(ut_str(sql, "url"), "mysql://localhost:3306/");
  assert_null(cJSON_GetObjectItemCaseSensitive(sql, "sanitized_query"));
  assert_string_equal(ut_str(cJSON_GetObjectItemCaseSensitive(
                                 cJSON_GetObjectItemCaseSensitive(doc, "metadata"), "xray_auto"),
                             "operation"),
                      "connect");
  cJSON_Delete(doc);
  xr_entity_free(sub);
}

static void test_host_forms(void **state)
{
  static const struct {
    const char *given, *want;
  } rows[] = {
      {NULL, "localhost"},
      {"", "localhost"},
      {"/var/run/postgresql", "localhost"},
      {"@abstract", "localhost"},
      {"127.0.0.1", "127.0.0.1"},
      {"db.example.com", "db.example.com"},
      {"::1", "::1"},
  };
  struct xr_db_info db = pg();
  size_t i;

  (void)state;
  for (i = 0; i < XR_ARRAY_SIZE(rows); i++) {
    xr_db_set_host(&db, rows[i].given);
    assert_string_equal(db.host, rows[i].want);
  }
}

static void test_url_escapes(void **state)
{
  struct xr_db_info db = pg();
  struct xr_entity *sub = xr_entity_new(false, NULL);
  cJSON *doc;

  (void)state;
  xr_db_set_host(&db, "::1");
  xr_db_set(db.database, "my db/x?y#z");
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_CONNECT, false, NULL, 0, XR_SQL_SANITIZED),
                   0);
  doc = wire(sub);
  assert_string_equal(ut_str(cJSON_GetObjectItemCaseSensitive(doc, "sql"), "url"),
                      "postgresql://[::1]:5432/my%20db%2Fx%3Fy%23z");
  cJSON_Delete(doc);
  xr_entity_free(sub);
}

static void test_fail_scrubs_and_keeps_first(void **state)
{
  struct xr_db_info db = pg();
  struct xr_entity *sub = xr_entity_new(false, NULL);
  cJSON *doc, *ex, *list;
  char *text;

  (void)state;
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, "SELECT 'x'::int", 15,
                                XR_SQL_SANITIZED), 0);
  assert_int_equal(xr_sql_fail(sub, "22P02",
                               "invalid input syntax for type integer: \"TOPSECRET\"\nLINE 1", true),
                   0);
  assert_int_equal(xr_sql_fail(sub, "25P02", "current transaction is aborted", true), 0);
  doc = wire(sub);
  assert_true(ut_is_true(doc, "fault"));
  list = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "cause"),
                                          "exceptions");
  assert_int_equal(cJSON_GetArraySize(list), 1);
  ex = cJSON_GetArrayItem(list, 0);
  assert_string_equal(ut_str(ex, "type"), "22P02");
  assert_string_equal(ut_str(ex, "message"), "invalid input syntax for type integer: ?");
  assert_true(ut_is_true(ex, "remote"));
  assert_true(ut_is_lower_hex(ut_str(ex, "id"), 16));
  text = cJSON_PrintUnformatted(doc);
  assert_null(strstr(text, "TOPSECRET"));
  cJSON_free(text);
  cJSON_Delete(doc);
  xr_entity_free(sub);
}

/* An entity that already has a metadata tree gets the operation in it. */
static void test_operation_merges_into_metadata(void **state)
{
  struct xr_db_info db = pg();
  struct xr_entity *sub = xr_entity_new(false, NULL);
  cJSON *doc, *meta;

  (void)state;
  cJSON_AddStringToObject(xr_json_child(xr_json_slot(&sub->metadata), "default"), "k", "v");
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_PREPARE, true, "SELECT 1", 8,
                                XR_SQL_SANITIZED), 0);
  doc = wire(sub);
  meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
  assert_string_equal(ut_str(cJSON_GetObjectItemCaseSensitive(meta, "default"), "k"), "v");
  assert_string_equal(ut_str(cJSON_GetObjectItemCaseSensitive(meta, "xray_auto"), "operation"),
                      "prepare");
  cJSON_Delete(doc);
  xr_entity_free(sub);
}

/* The per-connection strings are cached in db: a change through the
 * setters (or a direct write followed by xr_db_changed) shows in the next
 * statement, an unchanged value keeps the cache. */
static void test_cache_follows_changes(void **state)
{
  struct xr_db_info db = my("10.11.19-MariaDB-0+deb12u1");
  struct xr_entity *sub;
  cJSON *doc, *sql;

  (void)state;
  sub = xr_entity_new(false, NULL);
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, "SELECT 1", 8,
                                XR_SQL_SANITIZED), 0);
  assert_true(db.cache.valid);
  doc = wire(sub);
  assert_string_equal(ut_str(doc, "name"), "shop@localhost");
  cJSON_Delete(doc);
  /* The same statement again, on the same entity: the block is replaced. */
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, "SELECT 2", 8,
                                XR_SQL_SANITIZED), 0);
  xr_entity_free(sub);

  xr_db_update(&db, db.database, "shop");
  assert_true(db.cache.valid); /* unchanged: kept */
  xr_db_update(&db, db.database, "orders");
  assert_false(db.cache.valid);
  xr_db_set_host(&db, "db2.internal");
  db.port = 3307;
  xr_db_set(db.server_version, "8.0.36");
  xr_db_set(db.user, "admin");
  xr_db_changed(&db);
  sub = xr_entity_new(false, NULL);
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_EXECUTE, true, "SELECT 'x'", 10,
                                XR_SQL_SANITIZED), 0);
  doc = wire(sub);
  assert_string_equal(ut_str(doc, "name"), "orders@db2.internal");
  sql = cJSON_GetObjectItemCaseSensitive(doc, "sql");
  assert_string_equal(ut_str(sql, "url"), "mysql://db2.internal:3307/orders");
  assert_string_equal(ut_str(sql, "database_type"), "MySQL");
  assert_string_equal(ut_str(sql, "database_version"), "8.0.36");
  assert_string_equal(ut_str(sql, "driver_version"), "libmariadb 3.3.20");
  assert_string_equal(ut_str(sql, "user"), "admin");
  assert_string_equal(ut_str(sql, "sanitized_query"), "SELECT ?");
  assert_string_equal(ut_str(sql, "preparation"), "statement");
  cJSON_Delete(doc);
  xr_entity_free(sub);

  /* Absent fields stay absent; a name that sanitizes to nothing is "unknown". */
  db.server_version[0] = '\0';
  db.user[0] = '\0';
  db.database[0] = '\0';
  xr_db_set_host(&db, "\x01\x02");
  sub = xr_entity_new(false, NULL);
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, NULL, 0, XR_SQL_SANITIZED),
                   0);
  doc = wire(sub);
  assert_string_equal(ut_str(doc, "name"), "unknown");
  sql = cJSON_GetObjectItemCaseSensitive(doc, "sql");
  assert_null(cJSON_GetObjectItemCaseSensitive(sql, "database_type"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sql, "database_version"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sql, "user"));
  assert_null(cJSON_GetObjectItemCaseSensitive(sql, "sanitized_query"));
  assert_string_equal(ut_str(sql, "driver_version"), "libmariadb 3.3.20");
  cJSON_Delete(doc);
  xr_entity_free(sub);
}

/* The per-connection members are written from the template's pre-escaped
 * fragment (xr_sql_json); the document must be byte for byte the one the
 * writer makes escaping the five strings itself (sql.json NULL), at every
 * size limit, for values with every kind of byte that needs care, long
 * ones, and ones too long escaped for the template (no fragment). */
static uint64_t frag_rng = 0x9e3779b97f4a7c15ULL;
static unsigned frag_next(unsigned n)
{
  frag_rng ^= frag_rng << 13;
  frag_rng ^= frag_rng >> 7;
  frag_rng ^= frag_rng << 17;
  return (unsigned)(frag_rng % n);
}

static void frag_value(char *field, unsigned maxlen)
{
  static const char *const parts[] = {
      "a", "Z", "0", " ", "\"", "\\", "\x01", "\x1f", "\x7f", "\n", "/", "@", ":",
      "%", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xff", "\xed\xa0\x80",
      "abcdefgh", "PostgreSQL 15.18 (Debian)"};
  char v[XR_DB_FIELD_MAX * 2];
  unsigned len = 0, want = frag_next(4) == 0 ? maxlen : frag_next(maxlen + 1);

  while (len < want) {
    const char *p = parts[frag_next(XR_ARRAY_SIZE(parts))];
    size_t n = strlen(p);
    if (len + n >= sizeof(v))
      break;
    memcpy(v + len, p, n);
    len += (unsigned)n;
  }
  v[len] = '\0';
  xr_db_set(field, v); /* cut to the field as the hooks cut it */
}

static void frag_compare(struct xr_entity *sub)
{
  static char with[16384], without[16384];
  const char *json = sub->sql.json;
  int full, a, b;
  size_t cap;

  strcpy(sub->trace_id, TRACE);
  sub->end_us = sub->start_us + 100;
  full = xr_entity_write(sub, true, false, with, sizeof(with) - XR_WRITE_SLACK);
  sub->sql.json = NULL;
  b = xr_entity_write(sub, true, false, without, sizeof(without) - XR_WRITE_SLACK);
  assert_true(full > 0);
  assert_int_equal(full, b);
  if (memcmp(with, without, (size_t)full) != 0)
    fail_msg("documents differ:\n fragment: %.*s\n strings:  %.*s", full, with, b, without);
  /* Every limit near the document's size, and some far below it: the
   * same length or the same refusal, the same bytes. */
  for (cap = 0; cap <= (size_t)full + 1; cap += (cap + 300 < (size_t)full ? 37 : 1)) {
    sub->sql.json = json;
    a = xr_entity_write(sub, true, false, with, cap);
    sub->sql.json = NULL;
    b = xr_entity_write(sub, true, false, without, cap);
    assert_int_equal(a, b);
    assert_int_equal(a, cap >= (size_t)full ? full : -EMSGSIZE);
    if (a > 0)
      assert_memory_equal(with, without, (size_t)a);
  }
  sub->sql.json = json;
}

static void test_json_fragment_same_bytes(void **state)
{
  static const char *const queries[] = {NULL, "SELECT 1", "SELECT \"x\\y\" FROM t\n",
                                        "SELECT '\xc3\xa9\xff'"};
  struct xr_db_info db;
  struct xr_entity *sub;
  int i, fragments = 0, without = 0;

  (void)state;
  for (i = 0; i < 3000; i++) {
    const char *q = queries[frag_next(XR_ARRAY_SIZE(queries))];
    db = frag_next(2) ? pg() : my("10.11.19-MariaDB-0+deb12u1");
    if (frag_next(8) == 0)
      db.server_version[0] = '\0'; /* MySQL never reached: no type */
    frag_value(db.host, XR_DB_FIELD_MAX - 1);
    if (frag_next(3) == 0)
      db.host[0] = '\0';
    frag_value(db.database, XR_DB_FIELD_MAX - 1);
    frag_value(db.user, XR_DB_FIELD_MAX - 1);
    frag_value(db.server_version, XR_DB_FIELD_MAX - 1);
    frag_value(db.driver, XR_DB_FIELD_MAX - 1);
    if (frag_next(5) == 0)
      db.user[0] = db.driver[0] = '\0';
    if (frag_next(10) == 0) {
      /* Every byte a control character: escaped, more than the template holds. */
      memset(db.host, 1, XR_DB_FIELD_MAX - 1);
      memset(db.user, 2, XR_DB_FIELD_MAX - 1);
      memset(db.server_version, 3, XR_DB_FIELD_MAX - 1);
      memset(db.driver, 4, XR_DB_FIELD_MAX - 1);
    }
    xr_db_changed(&db);
    /* Half of them with the block in the entity's spare room (SQL spans). */
    sub = i % 2 ? xr_entity_new_room(XR_ENTITY_SQL_ROOM) : xr_entity_new(false, NULL);
    assert_non_null(sub);
    assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, frag_next(2) != 0, q,
                                  q ? strlen(q) : 0, frag_next(3)), 0);
    if (sub->sql.json)
      fragments++;
    else
      without++;
    frag_compare(sub);
    /* A second statement of the connection: from the built template. */
    xr_entity_free(sub);
    sub = i % 2 ? xr_entity_new_room(XR_ENTITY_SQL_ROOM) : xr_entity_new(false, NULL);
    assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_EXECUTE, true, "SELECT 2", 8,
                                  XR_SQL_SANITIZED), 0);
    frag_compare(sub);
    /* Replaced through xr_entity_set_sql: the fragment is dropped. */
    assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, "SELECT 3", 8,
                                  XR_SQL_SANITIZED), 0);
    assert_null(sub->sql.json);
    frag_compare(sub);
    xr_entity_free(sub);
  }
  /* Both paths were taken. */
  assert_true(fragments > 100);
  assert_true(without > 10);
  /* The ordinary connection has its fragment. */
  db = pg();
  sub = xr_entity_new(false, NULL);
  assert_int_equal(xr_sql_begin(sub, &db, XR_SQL_OP_QUERY, false, "SELECT 1", 8,
                                XR_SQL_SANITIZED), 0);
  assert_non_null(sub->sql.json);
  assert_true(sub->sql.json_len > 0);
  frag_compare(sub);
  xr_entity_free(sub);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_query_fields),
      cmocka_unit_test(test_modes),
      cmocka_unit_test(test_mysql_types_and_hosts),
      cmocka_unit_test(test_host_forms),
      cmocka_unit_test(test_url_escapes),
      cmocka_unit_test(test_fail_scrubs_and_keeps_first),
      cmocka_unit_test(test_operation_merges_into_metadata),
      cmocka_unit_test(test_cache_follows_changes),
      cmocka_unit_test(test_json_fragment_same_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
