/*
 * UDP listening socket of the collector. Addresses are IPv4 only, like the
 * X-Ray daemon address the SDKs accept: "host:port" (IPv4 literal or
 * name), ":port" or a bare "port"; the host defaults to 127.0.0.1.
 */
#ifndef XRAY_AUTO_TOOL_UDP_H
#define XRAY_AUTO_TOOL_UDP_H

#include <netinet/in.h>
#include <stddef.h>

#define XT_DEFAULT_LISTEN "127.0.0.1:2000"
/* "255.255.255.255:65535" plus NUL. */
#define XT_ADDR_STR_MAX 22u

/*
 * Resolves spec into *sa. Returns 0, -EINVAL for a malformed spec or
 * -EHOSTUNREACH when the name does not resolve to an IPv4 address; msg
 * (if non-NULL) then receives a human-readable explanation.
 */
int xt_udp_parse(const char *spec, struct sockaddr_in *sa, char *msg,
		 size_t msg_len);

/*
 * Binds a close-on-exec, non-blocking UDP socket to spec. On success *fd
 * is the socket and *bound the actual address (the real port when port 0
 * was asked for). Returns 0 or a negative errno (msg explains).
 */
int xt_udp_bind(const char *spec, int *fd, struct sockaddr_in *bound,
		char *msg, size_t msg_len);

/* "a.b.c.d:port" into buf (at least XT_ADDR_STR_MAX bytes). */
void xt_udp_format(const struct sockaddr_in *sa, char *buf, size_t len);

#endif
