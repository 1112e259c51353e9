/*
 * runtime - an AWS Lambda custom runtime in C, written the way the
 * awslabs/aws-lambda-cpp runtime (src/runtime.cpp) talks to the Runtime API,
 * with a small handler.  It knows nothing about libxray-auto.so: preloaded,
 * the library traces the handler's calls per invocation from the Runtime API
 * bytes alone.
 *
 * Runtime API client (as aws-lambda-cpp does it):
 *   - one libcurl easy handle for every Runtime API call, curl_easy_reset()
 *     before each (the connection stays in the handle's cache: keep-alive);
 *   - NEXT: GET http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next
 *     with a CURLOPT_HEADERFUNCTION collecting the headers, names lower-cased;
 *     no timeout, connect timeout 1 s, CURLOPT_NOSIGNAL, TCP_NODELAY,
 *     HTTP/1.1, CURLOPT_PROXY "" (never a proxy), a User-Agent header;
 *   - the result: POST .../invocation/<id>/response or .../<id>/error, body
 *     given through CURLOPT_READFUNCTION with an explicit content-length and
 *     empty Expect: and transfer-encoding: headers;
 *   - the trace header (lambda-runtime-trace-id) is only kept in memory: the
 *     runtime never calls setenv("_X_AMZN_TRACE_ID") (unless --setenv-trace-id
 *     is given: then it sets it after each NEXT, as many runtimes do);
 *   - a failed NEXT (transport error or non-2xx status) is retried; after 3
 *     failures in a row the runtime exits.
 *
 * Usage: runtime [--setenv-trace-id]
 *
 * Environment:
 *   AWS_LAMBDA_RUNTIME_API   host:port of the Runtime API (required)
 *   RUNTIME_SETENV_TRACE_ID  "1": same as --setenv-trace-id
 *   RUNTIME_INIT_URL         init phase: one GET before the first NEXT; a
 *                            transport failure is reported to
 *                            /runtime/init/error and ends the runtime
 *   RUNTIME_IDLE_URL         one GET after each posted result, before the
 *                            next NEXT (work between invocations)
 *   HANDLER_URL              the handler's GET when the event has no "url"
 *   HANDLER_PG_CONNINFO      libpq connection string of the handler's query
 *                            (password from PGPASSWORD); unset: no query
 *
 * Handler, per invocation (event: a JSON object):
 *   1. GET event.url (else HANDLER_URL) with its own libcurl easy handle
 *      (reused across invocations);
 *   2. PQconnectdb(HANDLER_PG_CONNINFO), then PQexec of
 *        SELECT 'xr-lambda' AS greeting, 42 AS answer
 *      or, when event.error is true, of a SELECT on a missing table; PQfinish;
 *   3. POSTs {"request_id", "http_status", "http_bytes", "row"} to /response,
 *      or {"errorMessage", "errorType"} to /error when the query failed.
 *
 * Output (stdout, deterministic): "init: ...", one line per invocation
 *   invocation <id>: http <status> <bytes> sql <ok <row>|error <SQLSTATE>|off>
 *       -> <response|error> <API status>              (one line; http 0 0: no response)
 * and "exit: ..." when NEXT failed 3 times in a row.
 *
 * Exit status: 0 after NEXT answered with an HTTP error 3 times in a row (the
 * test Runtime API's "no more invocations"), 1 when the Runtime API could not
 * be reached or a result could not be posted, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RETRIES 3
#define MAX_HEADERS 32
#define USER_AGENT "User-Agent: AWS_Lambda_Cpp/0.2.10 (libxray-auto example)"
#define QUERY_OK "SELECT 'xr-lambda' AS greeting, 42 AS answer"
#define QUERY_FAIL "SELECT name FROM xr_lambda_missing_table WHERE id = 7"

struct buf {
    char *data;
    size_t len;
};

struct header {
    char *name; /* lower-cased */
    char *value;
};

struct response {
    struct buf body;
    struct header headers[MAX_HEADERS];
    size_t nheaders;
    long status;
};

struct invocation {
    char *request_id;
    char *trace_id; /* lambda-runtime-trace-id, NULL if absent */
    char *payload;
};

struct runtime {
    CURL *curl; /* the one Runtime API handle */
    char next_url[512];
    char result_base[512];
    char init_error_url[512];
};

struct reader {
    const char *data;
    size_t len, off;
};

static void buf_append(struct buf *b, const char *p, size_t n)
{
    char *d = realloc(b->data, b->len + n + 1);
    if (!d)
        abort();
    memcpy(d + b->len, p, n);
    b->len += n;
    d[b->len] = '\0';
    b->data = d;
}

static void response_free(struct response *r)
{
    free(r->body.data);
    for (size_t i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    memset(r, 0, sizeof(*r));
}

static const char *response_header(const struct response *r, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (strcmp(r->headers[i].name, name) == 0)
            return r->headers[i].value;
    return NULL;
}

static size_t write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    buf_append(userdata, ptr, size * nmemb);
    return size * nmemb;
}

static char *trimmed_copy(const char *p, size_t n)
{
    while (n > 0 && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)p[n - 1]))
        n--;
    return strndup(p, n);
}

/* "Name: value\r\n" -> a header with the name lower-cased (status line and
 * the blank line have no colon and are skipped). */
static size_t write_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct response *r = userdata;
    size_t n = size * nmemb;
    const char *colon = memchr(ptr, ':', n);

    if (colon && r->nheaders < MAX_HEADERS) {
        struct header *h = &r->headers[r->nheaders++];
        h->name = trimmed_copy(ptr, (size_t)(colon - ptr));
        h->value = trimmed_copy(colon + 1, n - (size_t)(colon - ptr) - 1);
        if (!h->name || !h->value)
            abort();
        for (char *c = h->name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
    }
    return n;
}

static size_t read_body(char *buffer, size_t size, size_t nitems, void *userdata)
{
    struct reader *rd = userdata;
    size_t n = rd->len - rd->off;

    if (n > size * nitems)
        n = size * nitems;
    memcpy(buffer, rd->data + rd->off, n);
    rd->off += n;
    return n;
}

static void set_common_options(CURL *c)
{
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_header);
}

/* 0: an invocation; >0: the HTTP status of a failed NEXT; -1: no response. */
static long get_next(struct runtime *rt, struct invocation *inv)
{
    struct response r;
    struct curl_slist *headers = NULL;
    CURLcode rc;
    const char *id, *trace;

    memset(&r, 0, sizeof(r));
    memset(inv, 0, sizeof(*inv));
    set_common_options(rt->curl);
    curl_easy_setopt(rt->curl, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(rt->curl, CURLOPT_URL, rt->next_url);
    curl_easy_setopt(rt->curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(rt->curl, CURLOPT_HEADERDATA, &r);
    headers = curl_slist_append(headers, USER_AGENT);
    curl_easy_setopt(rt->curl, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(rt->curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        fprintf(stderr, "runtime: NEXT failed: %s\n", curl_easy_strerror(rc));
        response_free(&r);
        return -1;
    }
    curl_easy_getinfo(rt->curl, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.status < 200 || r.status > 299) {
        long status = r.status;
        response_free(&r);
        return status;
    }
    id = response_header(&r, "lambda-runtime-aws-request-id");
    if (!id) {
        fprintf(stderr, "runtime: NEXT response without lambda-runtime-aws-request-id\n");
        response_free(&r);
        return -1;
    }
    trace = response_header(&r, "lambda-runtime-trace-id");
    inv->request_id = strdup(id);
    inv->trace_id = trace ? strdup(trace) : NULL;
    inv->payload = strdup(r.body.data ? r.body.data : "");
    response_free(&r);
    return 0;
}

/* POSTs body to url on the Runtime API handle; returns the HTTP status or -1. */
static long post(struct runtime *rt, const char *url, const char *body, const char *error_type)
{
    struct response r;
    struct curl_slist *headers = NULL;
    struct reader rd = {body, strlen(body), 0};
    char line[128];
    CURLcode rc;
    long status = -1;

    memset(&r, 0, sizeof(r));
    set_common_options(rt->curl);
    curl_easy_setopt(rt->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(rt->curl, CURLOPT_URL, url);
    curl_easy_setopt(rt->curl, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(rt->curl, CURLOPT_READDATA, &rd);
    curl_easy_setopt(rt->curl, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(rt->curl, CURLOPT_HEADERDATA, &r);
    headers = curl_slist_append(headers, "content-type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    headers = curl_slist_append(headers, "transfer-encoding:");
    headers = curl_slist_append(headers, USER_AGENT);
    snprintf(line, sizeof(line), "content-length: %zu", rd.len);
    headers = curl_slist_append(headers, line);
    if (error_type) {
        snprintf(line, sizeof(line), "Lambda-Runtime-Function-Error-Type: %s", error_type);
        headers = curl_slist_append(headers, line);
    }
    curl_easy_setopt(rt->curl, CURLOPT_HTTPHEADER, headers);
    rc = curl_easy_perform(rt->curl);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK)
        curl_easy_getinfo(rt->curl, CURLINFO_RESPONSE_CODE, &status);
    else
        fprintf(stderr, "runtime: POST %s failed: %s\n", url, curl_easy_strerror(rc));
    response_free(&r);
    return status;
}

/* A GET with the handler's own handle: *status and *bytes, CURLcode returned. */
static CURLcode fetch(CURL *c, const char *url, long *status, size_t *bytes)
{
    struct buf b = {NULL, 0};
    CURLcode rc;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    *status = 0;
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    *bytes = b.len;
    free(b.data);
    return rc;
}

/* The handler's query; returns 1 ok (row in *row), 0 failed (SQLSTATE in
 * *row), -1 not configured or no connection. */
static int run_query(int fail, char *row, size_t rowsz)
{
    const char *conninfo = getenv("HANDLER_PG_CONNINFO");
    PGconn *conn;
    PGresult *res;
    int ok;

    if (!conninfo || !*conninfo)
        return -1;
    conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(row, rowsz, "connect: %s", PQerrorMessage(conn));
        row[strcspn(row, "\n")] = '\0';
        PQfinish(conn);
        return -1;
    }
    res = PQexec(conn, fail ? QUERY_FAIL : QUERY_OK);
    ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
    if (ok) {
        snprintf(row, rowsz, "%s|%s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
    } else {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(row, rowsz, "%s", state ? state : "unknown");
    }
    PQclear(res);
    PQfinish(conn);
    return ok;
}

static int handle(struct runtime *rt, CURL *app, const struct invocation *inv)
{
    cJSON *event = cJSON_Parse(inv->payload);
    const cJSON *jurl = cJSON_GetObjectItemCaseSensitive(event, "url");
    const char *url = cJSON_IsString(jurl) ? jurl->valuestring : getenv("HANDLER_URL");
    int fail = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(event, "error"));
    long status = 0, api_status;
    size_t bytes = 0;
    char row[256] = "", target[700];
    cJSON *out = cJSON_CreateObject();
    char *body;
    int q;

    if (url && *url) {
        CURLcode rc = fetch(app, url, &status, &bytes);
        if (rc != CURLE_OK)
            fprintf(stderr, "runtime: handler GET %s: %s\n", url, curl_easy_strerror(rc));
    }
    q = run_query(fail, row, sizeof(row));
    printf("invocation %s: http %ld %zu sql %s%s", inv->request_id, status, bytes,
           q == 1 ? "ok " : q == 0 ? "error " : "off", q >= 0 ? row : "");
    if (q == 0) {
        cJSON_AddStringToObject(out, "errorMessage", "the query failed");
        cJSON_AddStringToObject(out, "errorType", row);
    } else {
        cJSON_AddStringToObject(out, "request_id", inv->request_id);
        cJSON_AddNumberToObject(out, "http_status", (double)status);
        cJSON_AddNumberToObject(out, "http_bytes", (double)bytes);
        cJSON_AddStringToObject(out, "row", row);
    }
    body = cJSON_PrintUnformatted(out);
    snprintf(target, sizeof(target), "%s%s/%s", rt->result_base, inv->request_id,
             q == 0 ? "error" : "response");
    api_status = post(rt, target, body ? body : "{}", q == 0 ? "QueryFailed" : NULL);
    printf(" -> %s %ld\n", q == 0 ? "error" : "response", api_status);
    fflush(stdout);
    free(body);
    cJSON_Delete(out);
    cJSON_Delete(event);
    return api_status >= 200 && api_status <= 299 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
    const char *init_url = getenv("RUNTIME_INIT_URL");
    const char *idle_url = getenv("RUNTIME_IDLE_URL");
    const char *env_setenv = getenv("RUNTIME_SETENV_TRACE_ID");
    int set_trace_env = env_setenv && strcmp(env_setenv, "1") == 0;
    struct runtime rt;
    CURL *app;
    int retries = 0, exit_status = 0;
    long last = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--setenv-trace-id") == 0) {
            set_trace_env = 1;
        } else {
            fprintf(stderr, "usage: runtime [--setenv-trace-id]\n");
            return 2;
        }
    }
    if (!api || !*api || strlen(api) > 256) {
        fprintf(stderr, "runtime: AWS_LAMBDA_RUNTIME_API is not set\n");
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    memset(&rt, 0, sizeof(rt));
    snprintf(rt.next_url, sizeof(rt.next_url), "http://%s/2018-06-01/runtime/invocation/next",
             api);
    snprintf(rt.result_base, sizeof(rt.result_base), "http://%s/2018-06-01/runtime/invocation/",
             api);
    snprintf(rt.init_error_url, sizeof(rt.init_error_url),
             "http://%s/2018-06-01/runtime/init/error", api);
    rt.curl = curl_easy_init();
    app = curl_easy_init();
    if (!rt.curl || !app)
        return 1;

    /* Init phase: outside any invocation. */
    if (init_url && *init_url) {
        long status;
        size_t bytes;
        CURLcode rc = fetch(app, init_url, &status, &bytes);
        if (rc != CURLE_OK) {
            char body[256];
            snprintf(body, sizeof(body),
                     "{\"errorMessage\":\"init fetch failed\",\"errorType\":\"%s\"}",
                     "Runtime.InitError");
            post(&rt, rt.init_error_url, body, "Runtime.InitError");
            printf("init: fetch failed (%d)\n", (int)rc);
            return 1;
        }
        printf("init: http %ld %zu\n", status, bytes);
    } else {
        printf("init: no fetch\n");
    }
    fflush(stdout);

    while (retries < MAX_RETRIES) {
        struct invocation inv;

        last = get_next(&rt, &inv);
        if (last != 0) {
            retries++;
            continue;
        }
        retries = 0;
        if (set_trace_env) {
            if (inv.trace_id)
                setenv("_X_AMZN_TRACE_ID", inv.trace_id, 1);
            else
                unsetenv("_X_AMZN_TRACE_ID");
        }
        if (handle(&rt, app, &inv) < 0) {
            fprintf(stderr, "runtime: could not post the result of %s\n", inv.request_id);
            exit_status = 1;
        }
        free(inv.request_id);
        free(inv.trace_id);
        free(inv.payload);
        if (exit_status)
            break;
        if (idle_url && *idle_url) {
            long status;
            size_t bytes;
            fetch(app, idle_url, &status, &bytes);
        }
    }
    if (!exit_status) {
        if (last > 0) {
            printf("exit: NEXT answered %ld %d times\n", last, MAX_RETRIES);
        } else {
            printf("exit: Runtime API not reachable\n");
            exit_status = 1;
        }
    }
    curl_easy_cleanup(app);
    curl_easy_cleanup(rt.curl);
    curl_global_cleanup();
    return exit_status;
}
