#define _GNU_SOURCE
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Generous receive queue so bursts from a test do not drop datagrams;
 * the kernel caps it at net.core.rmem_max. */
#define XT_RCVBUF_BYTES (4 * 1024 * 1024)

static int xt_parse_port(const char *s, in_port_t *port)
{
	unsigned long v;
	char *end;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*port = htons((uint16_t)v);
	return 0;
}

int xt_udp_parse(const char *spec, struct sockaddr_in *sa, char *msg,
		 size_t msg_len)
{
	struct addrinfo hints = { 0 }, *res = NULL;
	const char *colon;
	char host[256];
	size_t hlen;
	int rc;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	colon = strrchr(spec, ':');
	if (xt_parse_port(colon ? colon + 1 : spec, &sa->sin_port) != 0) {
		if (msg)
			snprintf(msg, msg_len, "bad port in address '%s'", spec);
		return -EINVAL;
	}
	hlen = colon ? (size_t)(colon - spec) : 0;
	if (hlen >= sizeof(host)) {
		if (msg)
			snprintf(msg, msg_len, "host name too long");
		return -EINVAL;
	}
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (!host[0])
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1)
		return 0;
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || !res) {
		if (msg)
			snprintf(msg, msg_len, "cannot resolve '%s': %s", host,
				 rc ? gai_strerror(rc) : "no address");
		if (res)
			freeaddrinfo(res);
		return -EHOSTUNREACH;
	}
	/* AF_INET hints guarantee a sockaddr_in. */
	memcpy(&sa->sin_addr, &((const struct sockaddr_in *)(const void *)
				       res->ai_addr)->sin_addr,
	       sizeof(sa->sin_addr));
	freeaddrinfo(res);
	return 0;
}

int xt_udp_bind(const char *spec, int *fd, struct sockaddr_in *bound,
		char *msg, size_t msg_len)
{
	struct sockaddr_in sa;
	socklen_t slen = sizeof(*bound);
	int s = -1, rc, rcvbuf = XT_RCVBUF_BYTES;

	*fd = -1;
	rc = xt_udp_parse(spec, &sa, msg, msg_len);
	if (rc)
		return rc;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0) {
		rc = -errno;
		if (msg)
			snprintf(msg, msg_len, "socket: %s", strerror(-rc));
		goto out;
	}
	/* Best effort: a smaller queue only risks drops under bursts. */
	(void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(s, (const struct sockaddr *)(const void *)&sa, sizeof(sa)) < 0 ||
	    getsockname(s, (struct sockaddr *)(void *)bound, &slen) < 0) {
		rc = -errno;
		if (msg)
			snprintf(msg, msg_len, "bind %s: %s", spec, strerror(-rc));
		goto out;
	}
	*fd = s;
	s = -1;
	rc = 0;
out:
	if (s >= 0)
		close(s);
	return rc;
}

void xt_udp_format(const struct sockaddr_in *sa, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip)))
		strcpy(ip, "?");
	snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(sa->sin_port));
}
