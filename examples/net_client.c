/*
 * net_client - a hand-written HTTP/1.1 client on plain BSD sockets, used by
 * the integration tests of the sockets layer.  It knows nothing about
 * libxray-auto.so and links nothing but libc.
 *
 * Usage:
 *   net_client [options] HOST PORT PATH...
 *
 * Resolves HOST with getaddrinfo (AF_UNSPEC; HOST "-" passes a NULL node,
 * which gives the loopback addresses ::1 then 127.0.0.1), connects to the
 * first address that accepts, and sends one request per PATH on that one
 * keep-alive connection, each after the previous response was read in full
 * (or all at once with --pipeline).
 * The Host header is "HOST:PORT" ("localhost:PORT" for "-").
 *
 * Options:
 *   --io send|vec|msg   calls that carry the bytes: send/recv (default),
 *                       writev/readv, or sendmsg/recvmsg
 *   --bytewise          send every request one byte per call (default: one
 *                       call per head line, then one for the body)
 *   --rchunk N          read at most N bytes per call (default 7)
 *   --method M          request method (default GET, POST with --data; HEAD
 *                       reads no body)
 *   --data BODY         request body (sent with Content-Length)
 *   --nonblock          non-blocking connect: O_NONBLOCK, poll, SO_ERROR
 *   --no-soerror        with --nonblock: skip the SO_ERROR check, so that a
 *                       failed connect shows at the first send
 *   --pipeline          send all requests before reading the first response
 *
 * Output: one line per response on stdout: "<path> <status> <body bytes>".
 * Exit status: 0 all responses read, 1 connect or I/O failure (message on
 * stderr), 2 usage.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum io_kind { IO_SEND, IO_VEC, IO_MSG };

struct options {
    enum io_kind io;
    int bytewise;
    size_t rchunk;
    const char *method;
    const char *data;
    int nonblock;
    int no_soerror;
    int pipeline;
};

/* Buffered reader over the socket: refills with at most rchunk bytes. */
struct reader {
    int fd;
    enum io_kind io;
    size_t rchunk;
    char buf[4096];
    size_t pos, len;
};

static void usage(void)
{
    fprintf(stderr, "usage: net_client [--io send|vec|msg] [--bytewise] [--rchunk N]\n"
                    "                  [--method M] [--data BODY] [--nonblock [--no-soerror]]\n"
                    "                  [--pipeline]\n"
                    "                  HOST PORT PATH...\n");
}

/* One sending call of the selected kind; vec/msg split the bytes into two
 * iovecs so that multi-buffer calls are exercised too. */
static ssize_t send_some(int fd, enum io_kind io, const char *p, size_t n)
{
    struct iovec iov[2];
    size_t first = n / 2;
    int cnt = 0;
    struct msghdr msg;

    if (io == IO_SEND)
        return send(fd, p, n, MSG_NOSIGNAL);
    if (first > 0) {
        iov[cnt].iov_base = (void *)(uintptr_t)p;
        iov[cnt++].iov_len = first;
    }
    iov[cnt].iov_base = (void *)(uintptr_t)(p + first);
    iov[cnt++].iov_len = n - first;
    if (io == IO_VEC)
        return writev(fd, iov, cnt);
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    return sendmsg(fd, &msg, MSG_NOSIGNAL);
}

static int send_all(int fd, enum io_kind io, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send_some(fd, io, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Sends s as the options say: in one piece, or one byte per call. */
static int send_piece(int fd, const struct options *o, const char *s, size_t n)
{
    size_t i;

    if (!o->bytewise)
        return send_all(fd, o->io, s, n);
    for (i = 0; i < n; i++)
        if (send_all(fd, o->io, s + i, 1) < 0)
            return -1;
    return 0;
}

static int send_request(int fd, const struct options *o, const char *host_header,
                        const char *path)
{
    char line[1024];
    size_t body_len = o->data ? strlen(o->data) : 0;
    int n;

    n = snprintf(line, sizeof line, "%s %s HTTP/1.1\r\n", o->method, path);
    if (n < 0 || (size_t)n >= sizeof line || send_piece(fd, o, line, (size_t)n) < 0)
        return -1;
    n = snprintf(line, sizeof line, "Host: %s\r\n", host_header);
    if (n < 0 || (size_t)n >= sizeof line || send_piece(fd, o, line, (size_t)n) < 0)
        return -1;
    if (send_piece(fd, o, "User-Agent: net_client/1\r\n", 26) < 0 ||
        send_piece(fd, o, "Accept: */*\r\n", 13) < 0)
        return -1;
    if (o->data) {
        n = snprintf(line, sizeof line, "Content-Type: text/plain\r\nContent-Length: %zu\r\n",
                     body_len);
        if (n < 0 || (size_t)n >= sizeof line || send_piece(fd, o, line, (size_t)n) < 0)
            return -1;
    }
    if (send_piece(fd, o, "\r\n", 2) < 0)
        return -1;
    if (body_len > 0 && send_piece(fd, o, o->data, body_len) < 0)
        return -1;
    return 0;
}

/* One receiving call of the selected kind, at most n bytes. */
static ssize_t recv_some(struct reader *r, char *p, size_t n)
{
    struct iovec iov[2];
    size_t first = n / 2;
    int cnt = 0;
    struct msghdr msg;

    if (r->io == IO_SEND)
        return recv(r->fd, p, n, 0);
    if (first > 0) {
        iov[cnt].iov_base = p;
        iov[cnt++].iov_len = first;
    }
    iov[cnt].iov_base = p + first;
    iov[cnt++].iov_len = n - first;
    if (r->io == IO_VEC)
        return readv(r->fd, iov, cnt);
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)cnt;
    return recvmsg(r->fd, &msg, 0);
}

/* Next byte, -1 on EOF or error (errno 0 for EOF). */
static int next_byte(struct reader *r)
{
    if (r->pos == r->len) {
        ssize_t got;
        size_t want = r->rchunk < sizeof r->buf ? r->rchunk : sizeof r->buf;
        do
            got = recv_some(r, r->buf, want);
        while (got < 0 && errno == EINTR);
        if (got <= 0) {
            if (got == 0)
                errno = 0;
            return -1;
        }
        r->pos = 0;
        r->len = (size_t)got;
    }
    return (unsigned char)r->buf[r->pos++];
}

/* Reads one line (without CRLF) into out; -1 on EOF/error or overlong line. */
static int read_line(struct reader *r, char *out, size_t cap)
{
    size_t n = 0;

    for (;;) {
        int c = next_byte(r);
        if (c < 0)
            return -1;
        if (c == '\n')
            break;
        if (n + 1 >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (n > 0 && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    return 0;
}

static int skip_bytes(struct reader *r, long long n)
{
    for (; n > 0; n--)
        if (next_byte(r) < 0)
            return -1;
    return 0;
}

/* Reads one response; *status and *body get its status and body size. */
static int read_response(struct reader *r, int head_only, int *status, long long *body)
{
    char line[2048];
    long long clen = -1;
    int chunked = 0;

    do {
        if (read_line(r, line, sizeof line) < 0)
            return -1;
        if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) {
            errno = EPROTO;
            return -1;
        }
        *status = atoi(line + 9);
        for (;;) {
            if (read_line(r, line, sizeof line) < 0)
                return -1;
            if (line[0] == '\0')
                break;
            if (strncasecmp(line, "Content-Length:", 15) == 0)
                clen = atoll(line + 15);
            else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked"))
                chunked = 1;
        }
    } while (*status >= 100 && *status < 200); /* interim responses */

    *body = 0;
    if (head_only || *status == 204 || *status == 304)
        return 0;
    if (chunked) {
        for (;;) {
            long long size;
            if (read_line(r, line, sizeof line) < 0)
                return -1;
            size = strtoll(line, NULL, 16);
            if (size < 0)
                return -1;
            if (size == 0)
                break;
            if (skip_bytes(r, size) < 0 || read_line(r, line, sizeof line) < 0)
                return -1;
            *body += size;
        }
        do { /* trailers up to the empty line */
            if (read_line(r, line, sizeof line) < 0)
                return -1;
        } while (line[0] != '\0');
        return 0;
    }
    if (clen >= 0) {
        if (skip_bytes(r, clen) < 0)
            return -1;
        *body = clen;
        return 0;
    }
    for (;;) { /* close-delimited */
        if (next_byte(r) < 0)
            return errno == 0 ? 0 : -1;
        (*body)++;
    }
}

static int send_one(int fd, const struct options *o, const char *host_header,
                    const char *path)
{
    if (send_request(fd, o, host_header, path) == 0)
        return 0;
    fprintf(stderr, "net_client: send %s: %s\n", path, strerror(errno));
    return 1;
}

/* Reads the response to path and prints its line; 1 (after a message) on failure. */
static int receive_one(struct reader *r, int head_only, const char *path)
{
    int status = 0;
    long long body = 0;

    if (read_response(r, head_only, &status, &body) < 0) {
        fprintf(stderr, "net_client: response to %s: %s\n", path,
                errno ? strerror(errno) : "connection closed");
        return 1;
    }
    printf("%s %d %lld\n", path, status, body);
    fflush(stdout);
    return 0;
}

/* Non-blocking connect: EINPROGRESS, poll for writability, SO_ERROR. */
static int connect_nonblock(int fd, const struct sockaddr *sa, socklen_t len, int soerror)
{
    int flags = fcntl(fd, F_GETFL);
    int err = 0;
    socklen_t elen = sizeof err;
    struct pollfd pfd;

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    if (connect(fd, sa, len) < 0) {
        if (errno != EINPROGRESS)
            return -1;
        pfd.fd = fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        while (poll(&pfd, 1, 30000) < 0)
            if (errno != EINTR)
                return -1;
        if (soerror && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            return -1;
        if (err != 0) {
            errno = err;
            return -1;
        }
    }
    return fcntl(fd, F_SETFL, flags);
}

static int connect_to(const char *host, const char *port, const struct options *o)
{
    struct addrinfo hints, *res = NULL, *ai;
    int fd = -1, rc, saved = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "net_client: getaddrinfo %s: %s\n", host ? host : "(null)",
                gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (o->nonblock)
            rc = connect_nonblock(fd, ai->ai_addr, ai->ai_addrlen, !o->no_soerror);
        else
            rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "net_client: connect %s port %s: %s\n", host ? host : "(null)", port,
                strerror(saved));
    return fd;
}

int main(int argc, char **argv)
{
    struct options o = {IO_SEND, 0, 7, "GET", NULL, 0, 0, 0};
    struct reader *r;
    const char *host, *port;
    char host_header[512];
    int i, first, sent, fd, head_only, method_set = 0, ret = 0;

    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--bytewise") == 0) {
            o.bytewise = 1;
        } else if (strcmp(argv[i], "--nonblock") == 0) {
            o.nonblock = 1;
        } else if (strcmp(argv[i], "--pipeline") == 0) {
            o.pipeline = 1;
        } else if (strcmp(argv[i], "--no-soerror") == 0) {
            o.no_soerror = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--io") == 0) {
            const char *v = argv[++i];
            if (strcmp(v, "send") == 0)
                o.io = IO_SEND;
            else if (strcmp(v, "vec") == 0)
                o.io = IO_VEC;
            else if (strcmp(v, "msg") == 0)
                o.io = IO_MSG;
            else
                return usage(), 2;
        } else if (i + 1 < argc && strcmp(argv[i], "--rchunk") == 0) {
            long v = atol(argv[++i]);
            if (v <= 0)
                return usage(), 2;
            o.rchunk = (size_t)v;
        } else if (i + 1 < argc && strcmp(argv[i], "--method") == 0) {
            o.method = argv[++i];
            method_set = 1;
        } else if (i + 1 < argc && strcmp(argv[i], "--data") == 0) {
            o.data = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    if (o.data != NULL && !method_set)
        o.method = "POST";
    if (argc - i < 3) {
        usage();
        return 2;
    }
    host = argv[i];
    port = argv[i + 1];
    if (strcmp(host, "-") == 0)
        host = NULL;
    snprintf(host_header, sizeof host_header, "%s:%s", host ? host : "localhost", port);
    head_only = strcmp(o.method, "HEAD") == 0;

    fd = connect_to(host, port, &o);
    if (fd < 0)
        return 1;
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        close(fd);
        return 1;
    }
    r->fd = fd;
    r->io = o.io;
    r->rchunk = o.rchunk;

    /* --pipeline: every request is sent before the first response is read. */
    first = i + 2;
    for (sent = first; ret == 0 && o.pipeline && sent < argc; sent++)
        ret = send_one(fd, &o, host_header, argv[sent]);
    for (i = first; ret == 0 && i < argc; i++) {
        if (i == sent)
            ret = send_one(fd, &o, host_header, argv[sent++]);
        if (ret == 0)
            ret = receive_one(r, head_only, argv[i]);
    }
    free(r);
    close(fd);
    return ret;
}
