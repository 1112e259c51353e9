#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "collect.h"
#include "udp.h"

#define XT_RUN_PREFIX "xray-auto run: "
#define XT_LIB_NAME "libxray-auto.so"
/* How long datagrams sent just before CMD exited may still be in flight. */
#define XT_LATE_DATAGRAM_MS 300

#ifndef XRAY_AUTO_MULTIARCH
#if defined(__x86_64__)
#define XRAY_AUTO_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define XRAY_AUTO_MULTIARCH "aarch64-linux-gnu"
#elif defined(__i386__)
#define XRAY_AUTO_MULTIARCH "i386-linux-gnu"
#else
#define XRAY_AUTO_MULTIARCH ""
#endif
#endif

struct xt_run_opts {
	bool collect;
	bool quiet;
	const char *listen;
	const char *jsonl;
	char **cmd;
};

/* The only global: where the signal handler forwards signals to. */
static volatile sig_atomic_t xt_cmd_pid;

static int xt_lib_from_env(const char *env, char *out, const char *prefix)
{
	if (!realpath(env, out)) {
		fprintf(stderr, "%sXRAY_AUTO_LIBRARY=%s: %s\n", prefix, env,
			strerror(errno));
		return -ENOENT;
	}
	if (access(out, R_OK) != 0) {
		fprintf(stderr, "%sXRAY_AUTO_LIBRARY=%s: %s\n", prefix, env,
			strerror(errno));
		return -EACCES;
	}
	return 0;
}

int xt_find_library(char *out, const char *prefix)
{
	static const char *const rel[] = {
		"/" XT_LIB_NAME,
		"/../lib/" XT_LIB_NAME,
		"/../lib/" XRAY_AUTO_MULTIARCH "/" XT_LIB_NAME,
	};
	/* The multiarch candidate, last, only exists if the triplet is known. */
	const size_t ncand = sizeof(XRAY_AUTO_MULTIARCH) > 1 ? 3 : 2;
	const char *env = getenv("XRAY_AUTO_LIBRARY");
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	char *slash;
	ssize_t n;
	size_t i;

	if (env && env[0])
		return xt_lib_from_env(env, out, prefix);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		fprintf(stderr, "%sreadlink /proc/self/exe: %s\n", prefix,
			n < 0 ? strerror(errno) : "empty");
		return -ENOENT;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	for (i = 0; i < ncand; i++) {
		snprintf(cand, sizeof(cand), "%s%s", exe, rel[i]);
		if (access(cand, R_OK) == 0 && realpath(cand, out))
			return 0;
	}
	fprintf(stderr, "%scannot find " XT_LIB_NAME
		"; set XRAY_AUTO_LIBRARY to its path. Looked for:\n", prefix);
	for (i = 0; i < ncand; i++)
		fprintf(stderr, "  %s%s\n", exe, rel[i]);
	return -ENOENT;
}

/* LD_PRELOAD entries are separated by spaces or colons. */
static bool xt_has_token(const char *list, const char *tok)
{
	size_t tlen = strlen(tok);
	const char *p = list;

	while (*p) {
		size_t len;

		p += strspn(p, " :");
		len = strcspn(p, " :");
		if (len == tlen && strncmp(p, tok, len) == 0)
			return true;
		p += len;
	}
	return false;
}

static int xt_set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *val = NULL;
	int rc;

	if (old && xt_has_token(old, lib))
		return 0;
	if (old && old[strspn(old, " :")]) {
		if (asprintf(&val, "%s %s", lib, old) < 0)
			return -ENOMEM;
	} else if (!(val = strdup(lib))) {
		return -ENOMEM;
	}
	rc = setenv("LD_PRELOAD", val, 1) ? -errno : 0;
	free(val);
	return rc;
}

static int xt_set_daemon_address(const struct sockaddr_in *sa)
{
	struct sockaddr_in to = *sa;
	char addr[XT_ADDR_STR_MAX];

	/* A wildcard bind is reached through loopback. */
	if (to.sin_addr.s_addr == htonl(INADDR_ANY))
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	xt_udp_format(&to, addr, sizeof(addr));
	return setenv("AWS_XRAY_DAEMON_ADDRESS", addr, 1) ? -errno : 0;
}

static void xt_exec(char **cmd) __attribute__((noreturn));

/* Exit statuses follow the shell: 127 not found, 126 not executable. */
static void xt_exec(char **cmd)
{
	int e;

	execvp(cmd[0], cmd);
	e = errno;
	fprintf(stderr, XT_RUN_PREFIX "%s: %s\n", cmd[0], strerror(e));
	_exit(e == ENOENT ? 127 : 126);
}

static void xt_forward_signal(int sig, siginfo_t *si, void *ctx)
{
	int saved = errno;
	pid_t pid = (pid_t)xt_cmd_pid;

	(void)ctx;
	/* Terminal-generated signals already reach CMD's process group. */
	if (si->si_code != SI_KERNEL && pid > 0)
		kill(pid, sig);
	errno = saved;
}

static void xt_install_forwarding(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = xt_forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int xt_wait_status(pid_t pid)
{
	int wst;

	while (waitpid(pid, &wst, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFEXITED(wst))
		return WEXITSTATUS(wst);
	if (WIFSIGNALED(wst))
		return 128 + WTERMSIG(wst);
	return 1;
}

static void xt_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Child side of the collector fork: never returns. */
static void xt_collector_child(int sock, FILE *jsonl, int stop_fd, bool quiet)
{
	struct xt_collect_opts o = {
		.jsonl = jsonl,
		.quiet = quiet,
		.stop_fd = stop_fd,
		.sigint_stops = false,	/* Ctrl-C is for CMD; we stop after it */
	};
	int rc = xt_collect_loop(sock, &o);

	if (jsonl && jsonl != stdout && fclose(jsonl) == EOF)
		rc = -errno;
	if (fflush(stdout) == EOF)
		rc = rc ? rc : -EIO;
	_exit(rc ? 1 : 0);
}

static int xt_run_collected(const struct xt_run_opts *ro)
{
	struct sockaddr_in bound;
	FILE *jsonl = NULL;
	int sock = -1, stop[2] = { -1, -1 }, status = 1;
	pid_t coll = -1, cmd;
	char msg[320];

	if (xt_udp_bind(ro->listen ? ro->listen : "127.0.0.1:0", &sock, &bound,
			msg, sizeof(msg))) {
		fprintf(stderr, XT_RUN_PREFIX "%s\n", msg);
		goto out;
	}
	if (ro->jsonl && !(jsonl = xt_jsonl_open(ro->jsonl))) {
		fprintf(stderr, XT_RUN_PREFIX "%s: %s\n", ro->jsonl,
			strerror(errno));
		goto out;
	}
	if (pipe2(stop, O_CLOEXEC) < 0 || xt_set_daemon_address(&bound)) {
		fprintf(stderr, XT_RUN_PREFIX "%s\n", strerror(errno));
		goto out;
	}
	xt_collect_announce(&bound);
	/* Unflushed stdio buffers would otherwise be written twice. */
	fflush(stdout);
	fflush(stderr);
	coll = fork();
	if (coll < 0) {
		fprintf(stderr, XT_RUN_PREFIX "fork: %s\n", strerror(errno));
		goto out;
	}
	if (coll == 0) {
		close(stop[1]);
		xt_collector_child(sock, jsonl, stop[0], ro->quiet);
	}
	/* The socket is bound before CMD starts, so nothing CMD sends is lost. */
	close(sock);
	sock = -1;
	close(stop[0]);
	stop[0] = -1;
	if (jsonl && jsonl != stdout)
		fclose(jsonl);
	jsonl = NULL;
	xt_install_forwarding();
	cmd = fork();
	if (cmd < 0) {
		fprintf(stderr, XT_RUN_PREFIX "fork: %s\n", strerror(errno));
		goto out;
	}
	if (cmd == 0)
		xt_exec(ro->cmd);
	xt_cmd_pid = cmd;
	status = xt_wait_status(cmd);
	xt_cmd_pid = 0;
	xt_sleep_ms(XT_LATE_DATAGRAM_MS);
out:
	/* Closing the write end is what tells the collector to finish. */
	if (stop[1] >= 0)
		close(stop[1]);
	if (stop[0] >= 0)
		close(stop[0]);
	if (coll > 0)
		(void)xt_wait_status(coll);
	if (jsonl && jsonl != stdout)
		fclose(jsonl);
	if (sock >= 0)
		close(sock);
	return status;
}

static int xt_run_usage_error(const char *what, const char *arg)
{
	fprintf(stderr, XT_RUN_PREFIX "%s%s%s\n", what, arg ? " " : "",
		arg ? arg : "");
	xt_usage(stderr);
	return XT_EXIT_USAGE;
}

static int xt_run_parse(int argc, char **argv, struct xt_run_opts *ro)
{
	static const struct option longopts[] = {
		{ "collect", no_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "jsonl", required_argument, NULL, 'j' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	optind = 1;
	/* "+": stop at CMD so its own options are left alone. */
	while ((opt = getopt_long(argc, argv, "+cl:j:qh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			ro->collect = true;
			break;
		case 'l':
			ro->listen = optarg;
			break;
		case 'j':
			ro->jsonl = optarg;
			break;
		case 'q':
			ro->quiet = true;
			break;
		case 'h':
			xt_usage(stdout);
			return 1;
		default:
			return xt_run_usage_error(
				"unknown option or missing argument",
				argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return xt_run_usage_error("missing command", NULL);
	if (!ro->collect && (ro->jsonl || ro->quiet))
		return xt_run_usage_error("--jsonl and --quiet need --collect",
					  NULL);
	ro->cmd = argv + optind;
	return 0;
}

int xt_cmd_run(int argc, char **argv)
{
	struct xt_run_opts ro = { 0 };
	struct sockaddr_in sa;
	char lib[PATH_MAX], msg[320];
	int rc;

	rc = xt_run_parse(argc, argv, &ro);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (xt_find_library(lib, XT_RUN_PREFIX))
		return 127;
	if (strpbrk(lib, " :")) {
		fprintf(stderr, XT_RUN_PREFIX "%s: LD_PRELOAD cannot hold a path "
				"with spaces or colons\n", lib);
		return 127;
	}
	if (xt_set_preload(lib)) {
		fprintf(stderr, XT_RUN_PREFIX "cannot set LD_PRELOAD\n");
		return 1;
	}
	if (ro.collect)
		return xt_run_collected(&ro);
	if (ro.listen) {
		if (xt_udp_parse(ro.listen, &sa, msg, sizeof(msg))) {
			fprintf(stderr, XT_RUN_PREFIX "%s\n", msg);
			return XT_EXIT_USAGE;
		}
		if (xt_set_daemon_address(&sa)) {
			fprintf(stderr, XT_RUN_PREFIX "cannot set "
					"AWS_XRAY_DAEMON_ADDRESS\n");
			return 1;
		}
	}
	fflush(stdout);
	xt_exec(ro.cmd);
}
