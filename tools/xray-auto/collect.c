#define _GNU_SOURCE
#include "collect.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "store.h"
#include "udp.h"
#include "validate.h"

#define XT_PREFIX "xray-auto collect: "
/* Datagrams handled per wake-up before timers get a look in. */
#define XT_BATCH 256u
/* Bound on the final drain so a flooding sender cannot keep us alive. */
#define XT_FINAL_DRAIN 100000u

struct xt_collector {
	const struct xt_collect_opts *o;
	struct xt_store *store;
	char *buf;		/* XT_RECV_BUF_SIZE bytes */
	unsigned long long datagrams, valid, invalid, large, traces;
	double last_rx;
	bool jsonl_failed;
	bool recv_failed;
};

static double xt_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

FILE *xt_jsonl_open(const char *path)
{
	if (strcmp(path, "-") == 0)
		return stdout;
	return fopen(path, "we");
}

/* Flushed per line because tests tail the file while we run. */
static void xt_jsonl_line(struct xt_collector *c, const char *line)
{
	FILE *f = c->o->jsonl;

	if (!f)
		return;
	if (fputs(line, f) == EOF || fputc('\n', f) == EOF ||
	    fflush(f) == EOF) {
		if (!c->jsonl_failed)
			fprintf(stderr, XT_PREFIX "cannot write JSONL: %s\n",
				strerror(errno));
		c->jsonl_failed = true;
		clearerr(f);
	}
}

static void xt_on_invalid(struct xt_collector *c, size_t n,
			  const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	char *line = NULL;

	c->invalid++;
	fprintf(stderr, XT_PREFIX "invalid datagram (%zu bytes): %s\n", n,
		reason);
	if (o && cJSON_AddStringToObject(o, "invalid", reason) &&
	    cJSON_AddNumberToObject(o, "bytes", (double)n))
		line = cJSON_PrintUnformatted(o);
	if (line)
		xt_jsonl_line(c, line);
	else
		fprintf(stderr, XT_PREFIX "out of memory writing JSONL\n");
	cJSON_free(line);
	cJSON_Delete(o);
}

static void xt_on_datagram(struct xt_collector *c, size_t n, double now)
{
	struct xt_verdict v;
	char *line;

	c->datagrams++;
	c->last_rx = now;
	if (xt_validate_datagram(c->buf, n, &v) != 0) {
		xt_on_invalid(c, n, v.reason);
		return;
	}
	c->valid++;
	if (v.large) {
		c->large++;
		fprintf(stderr,
			XT_PREFIX "warning: datagram of %zu bytes is over %u\n",
			n, XT_DATAGRAM_WARN);
	}
	line = cJSON_PrintUnformatted(v.doc);
	if (line)
		xt_jsonl_line(c, line);
	else
		fprintf(stderr, XT_PREFIX "out of memory writing JSONL\n");
	cJSON_free(line);
	/* The store owns v.doc from here, whatever the outcome. */
	if (xt_store_add(c->store, v.doc, now) != 0)
		fprintf(stderr, XT_PREFIX "out of memory, document left out "
				"of the trace trees\n");
}

/* Reads at most max datagrams, stopping early when the queue is empty. */
static void xt_drain(struct xt_collector *c, int sock, unsigned max)
{
	unsigned i;

	for (i = 0; i < max; i++) {
		/* MSG_TRUNC: the real length, even beyond the buffer. */
		ssize_t n = recv(sock, c->buf, XT_RECV_BUF_SIZE,
				 MSG_TRUNC | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    !c->recv_failed) {
				fprintf(stderr, XT_PREFIX "recv: %s\n",
					strerror(errno));
				c->recv_failed = true;
			}
			return;
		}
		xt_on_datagram(c, (size_t)n, xt_now());
	}
}

static void xt_flush(struct xt_collector *c, bool all)
{
	c->traces += xt_store_flush(c->store, xt_now(), XT_TRACE_QUIET_S, all,
				    c->o->quiet ? NULL : stdout);
}

int xt_collect_loop(int sock, const struct xt_collect_opts *o)
{
	struct xt_collector c = { .o = o };
	struct signalfd_siginfo si;
	struct pollfd pfd[3];
	sigset_t mask, old;
	bool masked = false, stop = false;
	int sfd = -1, rc = 0;
	nfds_t nfds;

	signal(SIGPIPE, SIG_IGN);
	if (!o->sigint_stops)
		signal(SIGINT, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	if (o->sigint_stops)
		sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, &old) < 0) {
		rc = -errno;
		goto out;
	}
	masked = true;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		rc = -errno;
		goto out;
	}
	c.buf = malloc(XT_RECV_BUF_SIZE);
	c.store = xt_store_new();
	if (!c.buf || !c.store) {
		rc = -ENOMEM;
		goto out;
	}
	c.last_rx = xt_now();
	while (!stop) {
		nfds = 0;
		pfd[nfds++] = (struct pollfd){ .fd = sock, .events = POLLIN };
		pfd[nfds++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (o->stop_fd >= 0)
			pfd[nfds++] = (struct pollfd){ .fd = o->stop_fd,
						       .events = POLLIN };
		if (poll(pfd, nfds, XT_TICK_MS) < 0 && errno != EINTR) {
			fprintf(stderr, XT_PREFIX "poll: %s\n", strerror(errno));
			break;
		}
		if (pfd[1].revents) {
			while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				stop = true;
		}
		if (nfds > 2 && pfd[2].revents)
			stop = true;
		if (pfd[0].revents)
			xt_drain(&c, sock, XT_BATCH);
		xt_flush(&c, false);
		if (o->idle_exit_s > 0 && xt_now() - c.last_rx >= o->idle_exit_s)
			stop = true;
	}
	/* Datagrams already queued belong to the run being stopped. */
	xt_drain(&c, sock, XT_FINAL_DRAIN);
	xt_flush(&c, true);
	fprintf(stderr,
		XT_PREFIX "%llu datagrams, %llu valid, %llu invalid, %llu traces\n",
		c.datagrams, c.valid, c.invalid, c.traces);
	if (c.large)
		fprintf(stderr, XT_PREFIX "%llu valid datagrams over %u bytes\n",
			c.large, XT_DATAGRAM_WARN);
out:
	if (rc)
		fprintf(stderr, XT_PREFIX "%s\n", strerror(-rc));
	if (sfd >= 0)
		close(sfd);
	if (masked)
		sigprocmask(SIG_SETMASK, &old, NULL);
	xt_store_free(c.store);
	free(c.buf);
	return rc;
}

static int xt_parse_seconds(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0)
		return -EINVAL;
	*out = v;
	return 0;
}

static int xt_collect_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, XT_PREFIX "%s%s%s\n", what, arg ? " " : "",
		arg ? arg : "");
	xt_usage(stderr);
	return XT_EXIT_USAGE;
}

int xt_cmd_collect(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "jsonl", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "exit-after-idle", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xt_collect_opts o = { .stop_fd = -1, .sigint_stops = true };
	const char *listen_spec = XT_DEFAULT_LISTEN, *jsonl = NULL;
	struct sockaddr_in bound;
	char msg[320];
	int opt, sock = -1, status = 1;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+l:j:qi:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'j':
			jsonl = optarg;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'i':
			if (xt_parse_seconds(optarg, &o.idle_exit_s))
				return xt_collect_usage_error(
					"bad --exit-after-idle value", optarg);
			break;
		case 'h':
			xt_usage(stdout);
			return 0;
		default:
			return xt_collect_usage_error(
				"unknown option or missing argument",
				argv[optind - 1]);
		}
	}
	if (optind < argc)
		return xt_collect_usage_error("unexpected argument", argv[optind]);
	if (xt_udp_bind(listen_spec, &sock, &bound, msg, sizeof(msg))) {
		fprintf(stderr, XT_PREFIX "%s\n", msg);
		goto out;
	}
	if (jsonl) {
		o.jsonl = xt_jsonl_open(jsonl);
		if (!o.jsonl) {
			fprintf(stderr, XT_PREFIX "%s: %s\n", jsonl,
				strerror(errno));
			goto out;
		}
	}
	xt_collect_announce(&bound);
	status = xt_collect_loop(sock, &o) == 0 ? 0 : 1;
out:
	if (o.jsonl && o.jsonl != stdout && fclose(o.jsonl) == EOF) {
		fprintf(stderr, XT_PREFIX "%s: %s\n", jsonl, strerror(errno));
		status = 1;
	}
	if (sock >= 0)
		close(sock);
	return status;
}

void xt_collect_announce(const struct sockaddr_in *bound)
{
	char addr[XT_ADDR_STR_MAX];

	xt_udp_format(bound, addr, sizeof(addr));
	fprintf(stderr, XT_PREFIX "listening on udp %s\n", addr);
	fflush(stderr);
}
