/*
 * rtld_local_host - does NOT link libcurl.  It dlopen()s a library that does
 * (libxr_fetch.so) with RTLD_NOW | RTLD_LOCAL, the way CPython loads
 * extension modules, and calls xr_fetch(URL).
 *
 * Usage: rtld_local_host [--deepbind] PATH/TO/libxr_fetch.so URL [COUNT]
 * Prints "status <http code> rc <CURLcode>" per call (COUNT calls, default 1).
 * --deepbind adds RTLD_DEEPBIND (test_loader.py): the library and its
 * dependencies then bind their references in their own scope first.
 * Exit 0 if every call returned CURLE_OK (0), 1 if not, 2 on usage/load errors.
 * The library is deliberately never dlclose()d (CPython never unloads
 * extension modules either).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*xr_fetch_fn)(const char *url, long *status);

int main(int argc, char **argv)
{
    xr_fetch_fn fetch;
    void *lib, *sym;
    long count = 1, i;
    int failed = 0, flags = RTLD_NOW | RTLD_LOCAL;

    if (argc > 1 && strcmp(argv[1], "--deepbind") == 0) {
        flags |= RTLD_DEEPBIND;
        argv++;
        argc--;
    }
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: rtld_local_host [--deepbind] LIBXR_FETCH_SO URL [COUNT]\n");
        return 2;
    }
    if (argc == 4) {
        char *end = NULL;

        errno = 0;
        count = strtol(argv[3], &end, 10);
        if (errno != 0 || end == argv[3] || *end != '\0' || count < 1) {
            fprintf(stderr, "rtld_local_host: bad COUNT %s\n", argv[3]);
            return 2;
        }
    }

    lib = dlopen(argv[1], flags);
    if (lib == NULL) {
        fprintf(stderr, "rtld_local_host: dlopen(%s): %s\n", argv[1], dlerror());
        return 2;
    }
    dlerror();
    sym = dlsym(lib, "xr_fetch");
    if (sym == NULL) {
        const char *err = dlerror();

        fprintf(stderr, "rtld_local_host: dlsym(xr_fetch): %s\n",
                err != NULL ? err : "symbol is NULL");
        return 2;
    }
    memcpy(&fetch, &sym, sizeof(fetch));

    for (i = 0; i < count; i++) {
        long status = 0;
        int rc = fetch(argv[2], &status);

        printf("status %ld rc %d\n", status, rc);
        fflush(stdout);
        if (rc != 0)
            failed = 1;
    }
    return failed ? 1 : 0;
}
