/*
 * libxr_fetch.so - a tiny shared library that links libcurl and does one
 * curl_easy_perform.  rtld_local_host dlopen()s it with RTLD_LOCAL, which is
 * how CPython loads extension modules (e.g. pycurl): libcurl then ends up in
 * a local symbol scope instead of the global one.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <curl/curl.h>
#include <stddef.h>

#define XR_FETCH_EXPORT __attribute__((visibility("default")))

/* Returns the CURLcode of the transfer; *status gets the HTTP status. */
XR_FETCH_EXPORT int xr_fetch(const char *url, long *status);

static size_t discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

XR_FETCH_EXPORT int xr_fetch(const char *url, long *status)
{
    static int initialised;
    CURLcode rc;
    CURL *h;

    if (status != NULL)
        *status = 0;
    if (!initialised) {
        rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK)
            return (int)rc;
        initialised = 1;
    }
    h = curl_easy_init();
    if (h == NULL)
        return (int)CURLE_FAILED_INIT;
    rc = curl_easy_setopt(h, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_body);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(h);
    if (status != NULL && curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status) != CURLE_OK)
        *status = 0;
    curl_easy_cleanup(h);
    return (int)rc;
}
