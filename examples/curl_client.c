/*
 * curl_client - an ordinary libcurl program used by the integration tests,
 * the demo and the benchmark.  It knows nothing about libxray-auto.so.
 *
 * Usage:
 *   curl_client [--multi] [--parallel N] [--reuse] [--header "Name: value"]...
 *               [--post DATA] [--method M] [--timeout SECS] URL...
 *
 * Output: one line per URL on stdout (in completion order with --multi):
 *   <url> <CURLcode number> <http status> <bytes received>
 *
 * Exit status: 0 if every transfer returned CURLE_OK, 1 if any failed,
 *              2 on usage / setup errors, 3 if the application's own
 *              CURLOPT_HTTPHEADER list was modified behind its back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_HEADERS_CHANGED 3
#define EXIT_USAGE 2

/* Per easy handle state. */
struct transfer {
    CURL *easy;
    const char *url;
    size_t bytes;
    char errbuf[CURL_ERROR_SIZE];
};

struct options {
    int multi;
    long parallel; /* 0 = unlimited */
    int reuse;
    const char *post;
    const char *method;
    long timeout;
    struct curl_slist *headers;
    /* Private copy of what the app put in its header list. */
    char **header_copy;
    size_t header_count;
    char **urls;
    size_t url_count;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: curl_client [--multi] [--parallel N] [--reuse]\n"
            "                   [--header \"Name: value\"]... [--post DATA]\n"
            "                   [--method M] [--timeout SECS] URL...\n");
}

static size_t count_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct transfer *t = userdata;
    (void)ptr;
    t->bytes += size * nmemb;
    return size * nmemb;
}

static int parse_long(const char *s, long min, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0 if the app's header list still has exactly the entries it built. */
static int headers_intact(const struct options *o)
{
    const struct curl_slist *node = o->headers;
    size_t i = 0;

    for (; node != NULL; node = node->next, i++) {
        if (i >= o->header_count)
            return -1;
        if (node->data == NULL || strcmp(node->data, o->header_copy[i]) != 0)
            return -1;
    }
    return i == o->header_count ? 0 : -1;
}

static void check_headers_or_die(const struct options *o)
{
    if (headers_intact(o) != 0) {
        fprintf(stderr, "header list changed\n");
        fflush(stdout);
        /* Deliberately no cleanup: the list can no longer be trusted. */
        exit(EXIT_HEADERS_CHANGED);
    }
}

static int add_header(struct options *o, const char *h)
{
    struct curl_slist *nl;
    char **nc;
    char *dup;

    dup = strdup(h);
    if (dup == NULL)
        return -1;
    nc = realloc(o->header_copy, (o->header_count + 1) * sizeof(*nc));
    if (nc == NULL) {
        free(dup);
        return -1;
    }
    o->header_copy = nc;
    nl = curl_slist_append(o->headers, h);
    if (nl == NULL) {
        free(dup);
        return -1;
    }
    o->headers = nl;
    o->header_copy[o->header_count++] = dup;
    return 0;
}

static void free_options(struct options *o)
{
    size_t i;

    curl_slist_free_all(o->headers);
    o->headers = NULL;
    for (i = 0; i < o->header_count; i++)
        free(o->header_copy[i]);
    free(o->header_copy);
    o->header_copy = NULL;
    o->header_count = 0;
}

/* Returns 0 on success, EXIT_USAGE on error. */
static int parse_args(int argc, char **argv, struct options *o)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strncmp(a, "--", 2) != 0)
            break;
        if (strcmp(a, "--multi") == 0) {
            o->multi = 1;
        } else if (strcmp(a, "--reuse") == 0) {
            o->reuse = 1;
        } else if (strcmp(a, "--parallel") == 0) {
            if (i + 1 >= argc || parse_long(argv[i + 1], 1, &o->parallel) != 0) {
                fprintf(stderr, "curl_client: --parallel needs a positive number\n");
                return EXIT_USAGE;
            }
            o->multi = 1; /* --parallel implies --multi */
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc || parse_long(argv[i + 1], 0, &o->timeout) != 0) {
                fprintf(stderr, "curl_client: --timeout needs a number >= 0\n");
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--header") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "curl_client: --header needs a value\n");
                return EXIT_USAGE;
            }
            if (add_header(o, argv[i + 1]) != 0) {
                fprintf(stderr, "curl_client: out of memory\n");
                return EXIT_USAGE;
            }
            i++;
        } else if (strcmp(a, "--post") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "curl_client: --post needs a value\n");
                return EXIT_USAGE;
            }
            o->post = argv[++i];
        } else if (strcmp(a, "--method") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "curl_client: --method needs a value\n");
                return EXIT_USAGE;
            }
            o->method = argv[++i];
        } else if (strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        } else {
            fprintf(stderr, "curl_client: unknown option %s\n", a);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage();
        return EXIT_USAGE;
    }
    o->urls = argv + i;
    o->url_count = (size_t)(argc - i);
    return 0;
}

/* Options that stay the same for every URL on a handle. */
static int setup_handle(const struct options *o, struct transfer *t)
{
    CURL *h = t->easy;
    CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                         \
    do {                                                                      \
        if (rc == CURLE_OK)                                                   \
            rc = curl_easy_setopt(h, opt, val);                               \
    } while (0)

    SET(CURLOPT_ERRORBUFFER, t->errbuf);
    SET(CURLOPT_WRITEFUNCTION, count_body);
    SET(CURLOPT_WRITEDATA, t);
    SET(CURLOPT_PRIVATE, t);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT, o->timeout);
    if (o->headers != NULL)
        SET(CURLOPT_HTTPHEADER, o->headers);
    if (o->post != NULL)
        SET(CURLOPT_POSTFIELDS, o->post);
    if (o->method != NULL) {
        SET(CURLOPT_CUSTOMREQUEST, o->method);
        if (strcmp(o->method, "HEAD") == 0)
            SET(CURLOPT_NOBODY, 1L);
    }
#undef SET
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_client: curl_easy_setopt failed: %s\n",
                curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

/* Per-URL options; resets the per-transfer counters. */
static int start_url(struct transfer *t, const char *url)
{
    CURLcode rc;

    t->url = url;
    t->bytes = 0;
    t->errbuf[0] = '\0';
    rc = curl_easy_setopt(t->easy, CURLOPT_URL, url);
    if (rc != CURLE_OK) {
        fprintf(stderr, "curl_client: CURLOPT_URL failed: %s\n",
                curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static struct transfer *new_transfer(const struct options *o)
{
    struct transfer *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        fprintf(stderr, "curl_client: out of memory\n");
        return NULL;
    }
    t->easy = curl_easy_init();
    if (t->easy == NULL) {
        fprintf(stderr, "curl_client: curl_easy_init failed\n");
        free(t);
        return NULL;
    }
    if (setup_handle(o, t) != 0) {
        curl_easy_cleanup(t->easy);
        free(t);
        return NULL;
    }
    return t;
}

static void free_transfer(struct transfer *t)
{
    if (t == NULL)
        return;
    curl_easy_cleanup(t->easy);
    free(t);
}

/* Prints the result line; returns 0 if the transfer succeeded. */
static int report(const struct transfer *t, CURLcode rc)
{
    long status = 0;

    if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
        status = 0;
    printf("%s %d %ld %zu\n", t->url, (int)rc, status, t->bytes);
    fflush(stdout);
    if (rc != CURLE_OK) {
        fprintf(stderr, "error: %s\n",
                t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

static int run_easy(const struct options *o)
{
    struct transfer *shared = NULL;
    int failed = 0;
    size_t i;

    for (i = 0; i < o->url_count; i++) {
        struct transfer *t;
        CURLcode rc;

        if (o->reuse) {
            if (shared == NULL && (shared = new_transfer(o)) == NULL)
                return EXIT_USAGE;
            t = shared;
        } else if ((t = new_transfer(o)) == NULL) {
            return EXIT_USAGE;
        }
        if (start_url(t, o->urls[i]) != 0) {
            if (!o->reuse)
                free_transfer(t);
            free_transfer(shared);
            return EXIT_USAGE;
        }
        rc = curl_easy_perform(t->easy);
        if (report(t, rc) != 0)
            failed = 1;
        check_headers_or_die(o);
        if (!o->reuse)
            free_transfer(t);
    }
    free_transfer(shared);
    return failed ? 1 : 0;
}

/* Replaces the first slot holding `from` with `to`. */
static void set_active(struct transfer **active, size_t n, struct transfer *from,
                       struct transfer *to)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (active[i] == from) {
            active[i] = to;
            return;
        }
    }
}

static struct transfer *find_active(struct transfer **active, size_t n, CURL *easy)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (active[i] != NULL && active[i]->easy == easy)
            return active[i];
    }
    return NULL;
}

/*
 * Multi interface.  At most `parallel` handles are in the multi handle at
 * once; the next URL is added when one completes.  With --reuse a completed
 * handle is removed, pointed at the next URL and added again (a handle pool);
 * otherwise it is cleaned up and a fresh handle is created for the next URL.
 */
static int run_multi(const struct options *o)
{
    CURLM *multi;
    struct transfer **pool = NULL;   /* idle handles kept for --reuse */
    struct transfer **active = NULL; /* handles currently in the multi */
    size_t pool_len = 0;
    size_t next = 0, done = 0, in_flight = 0;
    size_t limit;
    int failed = 0, fatal = 0;

    limit = o->parallel > 0 ? (size_t)o->parallel : o->url_count;
    if (limit > o->url_count)
        limit = o->url_count;

    multi = curl_multi_init();
    if (multi == NULL) {
        fprintf(stderr, "curl_client: curl_multi_init failed\n");
        return EXIT_USAGE;
    }
    pool = calloc(limit, sizeof(*pool));
    active = calloc(limit, sizeof(*active));
    if (pool == NULL || active == NULL) {
        free(pool);
        free(active);
        curl_multi_cleanup(multi);
        fprintf(stderr, "curl_client: out of memory\n");
        return EXIT_USAGE;
    }

    while (done < o->url_count && !fatal) {
        int running = 0;
        int queued = 0;
        CURLMsg *msg;
        CURLMcode mc;

        /* Top up the in-flight set. */
        while (in_flight < limit && next < o->url_count) {
            struct transfer *t;

            if (pool_len > 0)
                t = pool[--pool_len];
            else if ((t = new_transfer(o)) == NULL) {
                fatal = 1;
                break;
            }
            if (start_url(t, o->urls[next]) != 0) {
                free_transfer(t);
                fatal = 1;
                break;
            }
            mc = curl_multi_add_handle(multi, t->easy);
            if (mc != CURLM_OK) {
                fprintf(stderr, "curl_client: curl_multi_add_handle: %s\n",
                        curl_multi_strerror(mc));
                free_transfer(t);
                fatal = 1;
                break;
            }
            set_active(active, limit, NULL, t);
            next++;
            in_flight++;
        }
        if (fatal)
            break;

        mc = curl_multi_perform(multi, &running);
        if (mc != CURLM_OK) {
            fprintf(stderr, "curl_client: curl_multi_perform: %s\n",
                    curl_multi_strerror(mc));
            fatal = 1;
            break;
        }

        while ((msg = curl_multi_info_read(multi, &queued)) != NULL) {
            struct transfer *t;
            char *priv = NULL;
            CURL *easy;
            CURLcode rc;

            if (msg->msg != CURLMSG_DONE)
                continue;
            easy = msg->easy_handle;
            rc = msg->data.result; /* read before msg becomes invalid */
            t = find_active(active, limit, easy);
            if (t == NULL) {
                fprintf(stderr, "curl_client: unknown handle completed\n");
                fatal = 1;
                break;
            }
            /* Detect a preload that clobbers the app's CURLOPT_PRIVATE. */
            if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
                priv != (char *)t) {
                fprintf(stderr, "curl_client: CURLOPT_PRIVATE changed\n");
                failed = 1;
            }
            if (report(t, rc) != 0)
                failed = 1;
            mc = curl_multi_remove_handle(multi, easy);
            if (mc != CURLM_OK) {
                fprintf(stderr, "curl_client: curl_multi_remove_handle: %s\n",
                        curl_multi_strerror(mc));
                failed = 1;
            }
            set_active(active, limit, t, NULL);
            in_flight--;
            done++;
            check_headers_or_die(o);
            if (o->reuse && pool_len < limit)
                pool[pool_len++] = t;
            else
                free_transfer(t);
        }

        if (done >= o->url_count)
            break;
        if (in_flight > 0 && running > 0) {
            mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
            if (mc != CURLM_OK) {
                fprintf(stderr, "curl_client: curl_multi_poll: %s\n",
                        curl_multi_strerror(mc));
                fatal = 1;
            }
        }
    }

    if (fatal) {
        /* Abandon whatever is still in the multi handle. */
        size_t i;

        for (i = 0; i < limit; i++) {
            if (active[i] == NULL)
                continue;
            curl_multi_remove_handle(multi, active[i]->easy);
            free_transfer(active[i]);
            active[i] = NULL;
        }
    }

    while (pool_len > 0)
        free_transfer(pool[--pool_len]);
    free(pool);
    free(active);
    curl_multi_cleanup(multi);
    if (fatal)
        return EXIT_USAGE;
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct options o;
    CURLcode grc;
    int ret;

    memset(&o, 0, sizeof(o));
    o.timeout = 30;

    ret = parse_args(argc, argv, &o);
    if (ret != 0) {
        free_options(&o);
        return ret;
    }

    grc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (grc != CURLE_OK) {
        fprintf(stderr, "curl_client: curl_global_init: %s\n",
                curl_easy_strerror(grc));
        free_options(&o);
        return EXIT_USAGE;
    }

    ret = o.multi ? run_multi(&o) : run_easy(&o);

    /* Final check, then free the app's own list. */
    check_headers_or_die(&o);
    free_options(&o);
    curl_global_cleanup();
    return ret;
}
