/*
 * Shared helpers of the unit tests: a fake environment for
 * xr_config_load(), a UDP receiver on 127.0.0.1 standing in for the daemon,
 * datagram and JSON checks.
 */
#ifndef XR_UNIT_UTIL_H
#define XR_UNIT_UTIL_H

#include "../../src/xr_setup.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

/* Large enough for any UDP datagram, plus a NUL. */
#define UT_DGRAM_CAP 70000

/* The fake environment: a NULL-terminated list of name, value pairs. The
 * array is referenced, not copied; NULL clears it. */
void ut_env_set(const char *const *pairs);
const char *ut_getenv(const char *name);

/* A UDP socket bound to 127.0.0.1:0 with a 4 MB receive buffer; its port
 * (host order) in *port. Fails the test on error. */
int ut_udp_open(uint16_t *port);
/* The socket's effective receive buffer in bytes. */
int ut_udp_rcvbuf(int fd);
/* One datagram within timeout_ms: its length (buf NUL-terminated), or -1. */
ssize_t ut_udp_recv(int fd, char *buf, size_t cap, int timeout_ms);
/* Discards whatever is queued; returns how many datagrams. */
int ut_udp_drain(int fd);
/* Checks the datagram (exact protocol header, at most 64000 bytes, one
 * valid UTF-8 JSON object as body) and returns the parsed body. */
cJSON *ut_datagram_json(const char *buf, size_t len);
/* ut_udp_recv + ut_datagram_json; NULL when nothing arrived. */
cJSON *ut_recv_doc(int fd, int timeout_ms);
/* Asserts that nothing arrives within timeout_ms. */
void ut_expect_silence(int fd, int timeout_ms);

/* Receives up to want datagrams on a thread of its own while the test
 * sends (so that a burst never overflows the socket's queue). */
struct ut_collector {
  int fd, want, got;
  char **bufs;
  size_t *lens;
  pthread_t thread;
};
void ut_collect_start(struct ut_collector *c, int fd, int want);
/* Waits for the thread (it stops after 2 s without a datagram); returns
 * how many arrived. */
int ut_collect_join(struct ut_collector *c);
void ut_collect_free(struct ut_collector *c);

/* Strict UTF-8 (RFC 3629: no overlongs, no surrogates, <= U+10FFFF). */
bool ut_utf8_valid(const char *s, size_t n);
size_t ut_utf8_chars(const char *s);
bool ut_is_lower_hex(const char *s, size_t n);

/* obj[key] when it is a string / true / a number; NULL, false, NAN else. */
const char *ut_str(const cJSON *obj, const char *key);
bool ut_is_true(const cJSON *obj, const char *key);
double ut_num(const cJSON *obj, const char *key);
/* The text of the first number member "key": in JSON text (the top-level
 * one when it precedes nested objects) into out; false when absent. */
bool ut_number_text(const char *json, const char *key, char *out, size_t cap);
/* Checks "<digits>.<6 digits>" (a time as the library prints it). */
void ut_assert_time_text(const char *text);

/* A UDP receiver standing in for the daemon, one per test executable
 * (cmocka group setup/teardown and a per-test drain). */
extern int ut_rx;
extern uint16_t ut_rx_port;
int ut_rx_group_setup(void **state);
int ut_rx_group_teardown(void **state);
int ut_rx_drain(void **state);
/* (Re)initialises the tracer: the daemon at ut_rx, logging off, every
 * trace sampled, then the given variables (which win). */
void ut_tracer_init(const char *const *extra, const char *program);

#endif /* XR_UNIT_UTIL_H */
