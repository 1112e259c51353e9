/*
 * bench_curl - micro-benchmark driver for libxray-auto.so.
 *
 *   bench_curl [--segment K] URL N
 *                         N keep-alive GETs on one reused easy handle (body
 *                         discarded); prints
 *                         "transfers=N total_us=T per_transfer_us=X segments=S"
 *                         With --segment K, every K transfers (the last group
 *                         may be shorter) run between xray_begin_segment and
 *                         xray_end_segment, like a request handler making K
 *                         calls: with the preload each transfer is then a
 *                         subsegment of that segment, sent in its document
 *                         when it ends.  The two functions are looked up at
 *                         run time (dlsym(RTLD_DEFAULT)): without the preload
 *                         they are absent and the same transfers run alone.
 *                         S counts the segments opened (0 without the
 *                         preload, or when tracing is disabled).
 *   bench_curl --noop N   N calls of curl_easy_setopt(h, CURLOPT_VERBOSE, 0L)
 *                         on one handle (a hooked but untraced call); prints
 *                         "calls=N per_call_ns=X"
 *
 * Timing uses clock_gettime(CLOCK_MONOTONIC).  Exit 0 on success, 1 if a
 * transfer failed or returned a non-2xx status, 2 on usage errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* include/xray-auto.h's segment API, when libxray-auto.so is loaded. */
struct seg_api {
    int (*begin)(const char *name, const char *trace_header);
    int (*end)(void);
    long every; /* K: transfers per segment; 0: no segments */
    long opened;
};

static void seg_api_init(struct seg_api *a, long every)
{
    memset(a, 0, sizeof(*a));
    a->every = every;
    if (every <= 0)
        return;
    *(void **)&a->begin = dlsym(RTLD_DEFAULT, "xray_begin_segment");
    *(void **)&a->end = dlsym(RTLD_DEFAULT, "xray_end_segment");
    if (a->begin == NULL || a->end == NULL)
        a->begin = NULL, a->end = NULL;
}

/* Before call i of n: opens a segment at the start of each group of K. */
static void seg_before(struct seg_api *a, long i)
{
    if (a->begin != NULL && i % a->every == 0 && a->begin(NULL, NULL) == 0)
        a->opened++;
}

/* After call i of n: closes (and sends) the group's segment after its last call. */
static void seg_after(struct seg_api *a, long i, long n)
{
    if (a->end != NULL && (i % a->every == a->every - 1 || i == n - 1))
        (void)a->end(); /* -ENOENT when the begin failed (tracing disabled) */
}

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

static int parse_count(const char *s, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1)
        return -1;
    *out = v;
    return 0;
}

static int bench_noop(long n)
{
    CURL *h = curl_easy_init();
    unsigned long errors = 0;
    int64_t t0, t1;
    long i;

    if (h == NULL) {
        fprintf(stderr, "bench_curl: curl_easy_init failed\n");
        return 1;
    }
    t0 = now_ns();
    for (i = 0; i < n; i++)
        errors += curl_easy_setopt(h, CURLOPT_VERBOSE, 0L) != CURLE_OK;
    t1 = now_ns();
    curl_easy_cleanup(h);
    if (errors != 0) {
        fprintf(stderr, "bench_curl: %lu setopt calls failed\n", errors);
        return 1;
    }
    printf("calls=%ld per_call_ns=%.2f\n", n, (double)(t1 - t0) / (double)n);
    return 0;
}

static int bench_transfers(const char *url, long n, long every)
{
    struct seg_api seg;
    char errbuf[CURL_ERROR_SIZE];
    CURLcode rc = CURLE_OK;
    int64_t t0, t1;
    long i;
    CURL *h = curl_easy_init();

    if (h == NULL) {
        fprintf(stderr, "bench_curl: curl_easy_init failed\n");
        return 1;
    }
    errbuf[0] = '\0';
    rc = curl_easy_setopt(h, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (rc != CURLE_OK) {
        fprintf(stderr, "bench_curl: setopt: %s\n", curl_easy_strerror(rc));
        curl_easy_cleanup(h);
        return 1;
    }

    seg_api_init(&seg, every);
    t0 = now_ns();
    for (i = 0; i < n; i++) {
        long status = 0;

        seg_before(&seg, i);
        rc = curl_easy_perform(h);
        if (rc != CURLE_OK) {
            fprintf(stderr, "bench_curl: transfer %ld: %s\n", i,
                    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
            curl_easy_cleanup(h);
            return 1;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299) {
            fprintf(stderr, "bench_curl: transfer %ld: HTTP status %ld\n", i, status);
            curl_easy_cleanup(h);
            return 1;
        }
        seg_after(&seg, i, n);
    }
    t1 = now_ns();
    curl_easy_cleanup(h);

    printf("transfers=%ld total_us=%lld per_transfer_us=%.2f segments=%ld\n", n,
           (long long)((t1 - t0) / 1000), (double)(t1 - t0) / 1000.0 / (double)n, seg.opened);
    return 0;
}

int main(int argc, char **argv)
{
    long n = 0, every = 0;
    int ret;

    if (argc == 5 && strcmp(argv[1], "--segment") == 0 && parse_count(argv[2], &every) == 0 &&
        strcmp(argv[3], "--noop") != 0) {
        argc -= 2;
        argv += 2;
    }
    if (argc != 3 || parse_count(argv[2], &n) != 0) {
        fprintf(stderr, "usage: bench_curl [--segment K] URL N\n"
                        "       bench_curl --noop N\n");
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "bench_curl: curl_global_init failed\n");
        return 1;
    }
    if (strcmp(argv[1], "--noop") == 0)
        ret = bench_noop(n);
    else
        ret = bench_transfers(argv[1], n, every);
    curl_global_cleanup();
    return ret;
}
