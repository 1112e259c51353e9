/*
 * A libpq program whose libpq is either bound like Debian's (its internal
 * PQexec -> PQsendQuery/PQgetResult calls go through the PLT to the global
 * scope, where the preloaded hooks are) or like Ubuntu's -Bsymbolic build
 * (those inner calls bind inside libpq and no hook sees them). The second
 * is made with RTLD_DEEPBIND: libpq's own definitions come first for its
 * own references. The program reaches the API through the global scope
 * (dlsym(RTLD_DEFAULT)), i.e. through the hooks when preloaded, or through
 * libpq itself otherwise. It knows nothing about libxray-auto.
 *
 * usage: pq_bind_host global|deepbind CONNINFO
 * Prints what each call returned; exits 0 when every step behaved as
 * expected, 1 otherwise.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

static void *sym(void *lib, const char *name)
{
  /* The global scope first (the hooks when preloaded), else libpq. */
  void *p = dlsym(RTLD_DEFAULT, name);
  if (!p)
    p = dlsym(lib, name);
  if (!p) {
    fprintf(stderr, "missing %s\n", name);
    exit(1);
  }
  return p;
}

int main(int argc, char **argv)
{
  PGconn *(*connectdb)(const char *);
  PGresult *(*exec)(PGconn *, const char *);
  PGresult *(*prepare)(PGconn *, const char *, const char *, int, const Oid *);
  PGresult *(*exec_prepared)(PGconn *, const char *, int, const char *const *,
                             const int *, const int *, int);
  PGresult *(*exec_params)(PGconn *, const char *, int, const Oid *,
                           const char *const *, const int *, const int *, int);
  ExecStatusType (*status)(const PGresult *);
  char *(*field)(const PGresult *, int);
  char *(*value)(const PGresult *, int, int);
  void (*clear)(PGresult *);
  void (*finish)(PGconn *);
  ConnStatusType (*conn_status)(const PGconn *);
  const char *const params[] = {"41"};
  PGconn *c;
  PGresult *r;
  void *lib;
  int mode, bad = 0;

  if (argc != 3 || (strcmp(argv[1], "global") != 0 && strcmp(argv[1], "deepbind") != 0)) {
    fprintf(stderr, "usage: %s global|deepbind CONNINFO\n", argv[0]);
    return 2;
  }
  mode = strcmp(argv[1], "global") == 0 ? RTLD_NOW | RTLD_GLOBAL
                                        : RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
  lib = dlopen("libpq.so.5", mode);
  if (!lib) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  *(void **)&connectdb = sym(lib, "PQconnectdb");
  *(void **)&exec = sym(lib, "PQexec");
  *(void **)&prepare = sym(lib, "PQprepare");
  *(void **)&exec_prepared = sym(lib, "PQexecPrepared");
  *(void **)&exec_params = sym(lib, "PQexecParams");
  *(void **)&status = sym(lib, "PQresultStatus");
  *(void **)&field = sym(lib, "PQresultErrorField");
  *(void **)&value = sym(lib, "PQgetvalue");
  *(void **)&clear = sym(lib, "PQclear");
  *(void **)&finish = sym(lib, "PQfinish");
  *(void **)&conn_status = sym(lib, "PQstatus");

  c = connectdb(argv[2]);
  if (conn_status(c) != CONNECTION_OK) {
    fprintf(stderr, "connect failed\n");
    return 1;
  }
  r = exec(c, "SELECT 1 + 1");
  printf("exec: %s\n", status(r) == PGRES_TUPLES_OK ? value(r, 0, 0) : "failed");
  bad |= status(r) != PGRES_TUPLES_OK;
  clear(r);
  r = exec(c, "SELECT * FROM no_such_table_xr");
  printf("exec error: %s\n", field(r, PG_DIAG_SQLSTATE));
  bad |= status(r) != PGRES_FATAL_ERROR;
  clear(r);
  r = prepare(c, "s1", "SELECT $1::int + 1", 1, NULL);
  printf("prepare: %s\n", status(r) == PGRES_COMMAND_OK ? "ok" : "failed");
  bad |= status(r) != PGRES_COMMAND_OK;
  clear(r);
  r = exec_prepared(c, "s1", 1, params, NULL, NULL, 0);
  printf("exec prepared: %s\n", status(r) == PGRES_TUPLES_OK ? value(r, 0, 0) : "failed");
  bad |= status(r) != PGRES_TUPLES_OK;
  clear(r);
  r = exec_params(c, "SELECT $1::int * 2", 1, NULL, params, NULL, NULL, 0);
  printf("exec params: %s\n", status(r) == PGRES_TUPLES_OK ? value(r, 0, 0) : "failed");
  bad |= status(r) != PGRES_TUPLES_OK;
  clear(r);
  finish(c);
  return bad;
}
