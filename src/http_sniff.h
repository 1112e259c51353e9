/*
 * An incremental HTTP/1.x message parser for bytes observed on a socket
 * (the sockets layer feeds it whatever send/recv/read/write carried).
 * One parser follows one direction of one connection: requests (client to
 * server) or responses (server to client), message after message
 * (keep-alive, pipelining). It records only what a segment needs and
 * delimits bodies (RFC 9112 6.3) so that it knows where the next message
 * starts; it never buffers a message.
 *
 * Feeding: xr_hp_feed() consumes bytes up to the next event and reports it;
 * the caller acts on the event, then feeds the rest. Any split of the same
 * bytes (one byte at a time, or all at once) gives the same events and
 * fields. Each message reports BEGIN, HEAD, DONE in that order (or ERROR
 * at any point).
 *
 * Anything that is not HTTP/1.x (TLS, a database protocol, HTTP/2, garbage,
 * a head longer than XR_HP_HEAD_MAX) ends in XR_HP_EV_ERROR, after which
 * the parser stays in error: the caller stops following the connection.
 * Non-HTTP traffic is rejected within its first bytes.
 *
 * Contract: no allocation, no locks, no system calls, no libc calls besides
 * memcpy/memset; async-signal-safe; safe on any bytes. Fields are always
 * NUL-terminated, cut (never overrun) when too long.
 */
#ifndef XR_HTTP_SNIFF_H
#define XR_HTTP_SNIFF_H

#include "xr_setup.h"

#include <sys/types.h>

#define XR_HP_METHOD_MAX 16      /* method token, incl. NUL (longer: error) */
#define XR_HP_TARGET_MAX 512     /* request target up to '?'/'#', incl. NUL */
#define XR_HP_HOST_MAX 256       /* Host header value, incl. NUL */
#define XR_HP_AGENT_MAX 256      /* User-Agent, incl. NUL */
#define XR_HP_XFF_MAX 64         /* first X-Forwarded-For entry, trimmed */
#define XR_HP_TRACE_MAX 512      /* X-Amzn-Trace-Id value, incl. NUL */
#define XR_HP_HEAD_MAX 65536     /* start line + headers (bytes); more: error */

enum xr_hp_dir { XR_HP_REQUEST = 0, XR_HP_RESPONSE = 1 };

enum xr_hp_event {
  XR_HP_EV_NONE = 0,    /* all input consumed, message continues */
  XR_HP_EV_BEGIN,       /* the first byte of a new message was consumed
                           (request: method begins; response: 'H' of
                           HTTP/1.x). Once per response: when interim 1xx
                           responses (100, 103) precede the final one, BEGIN
                           is at the first interim's 'H', their heads are
                           consumed silently and HEAD is the final one's */
  XR_HP_EV_HEAD,        /* the head is complete: fields are valid */
  XR_HP_EV_DONE,        /* the message is complete (body delimited); the
                           parser is idle again (after an upgrade: in
                           error, the next feed reports ERROR) */
  XR_HP_EV_ERROR        /* not HTTP/1.x, or lost; sticky */
};

/* What a request head carried (XR_HP_REQUEST). */
struct xr_hp_request {
  char method[XR_HP_METHOD_MAX];
  /* Origin-form path ("/a/b"), absolute-form up to the path
   * ("http://h:8080/a/b"), "*", or the authority of a CONNECT; the query
   * and fragment are never stored. */
  char target[XR_HP_TARGET_MAX];
  char host[XR_HP_HOST_MAX];       /* "" when absent */
  char user_agent[XR_HP_AGENT_MAX];
  char xff[XR_HP_XFF_MAX];         /* first entry of X-Forwarded-For */
  /* The first X-Amzn-Trace-Id value, trimmed, when has_trace; else the
   * first W3C traceparent value when has_traceparent (X-Amzn-Trace-Id
   * wins over traceparent wherever both are read, so one buffer holds
   * whichever counts: no request head grows for the W3C header). */
  char trace[XR_HP_TRACE_MAX];
  bool has_trace;                  /* an X-Amzn-Trace-Id header was present */
  bool target_cut;                 /* target longer than the buffer */
  bool has_traceparent;            /* a traceparent header was present */
  bool traceparent_dup;            /* more than one (W3C: then invalid) */
  int version_minor;               /* 0 or 1 */
};

/* What a response head carried (XR_HP_RESPONSE). */
struct xr_hp_response {
  int status;                      /* 100..999; interim 1xx never reach HEAD
                                      (101 does: it ends HTTP) */
  int version_minor;
  long long content_length;        /* header value; -1 when absent */
  bool chunked;                    /* last transfer coding is chunked */
  bool close;                      /* "Connection: close", or HTTP/1.0
                                      without keep-alive */
  /* Lambda-Runtime-Trace-Id (the Runtime API's answer to a NEXT), first
   * value, trimmed. Last: a reset clears only its first byte. */
  bool has_lambda_trace;
  char lambda_trace[XR_HP_TRACE_MAX];
};

struct xr_hp {
  /* Private parser state (do not touch). */
  uint8_t dir, state;
  uint8_t sub;                     /* per-state position or digit count */
  uint8_t which;                   /* header whose value is being read */
  uint16_t name_mask;              /* known names the name still matches */
  uint8_t tok_mask, tok_pos, tok_st; /* list element being matched */
  uint16_t flags;
  uint16_t name_len;
  uint16_t value_len, value_trim;  /* stored bytes; up to last non-OWS */
  uint32_t head_bytes;             /* framing bytes against XR_HP_HEAD_MAX */
  unsigned long long remaining;    /* body / chunk bytes left */
  unsigned long long cl;           /* Content-Length accepted */
  unsigned long long num;          /* Content-Length being read */

  /* Set by the caller before a response's head ends (when it gets BEGIN,
   * before feeding more): the request it answers was HEAD (no body) or
   * CONNECT (2xx: the connection becomes a tunnel, reported as DONE then
   * ERROR). Read only when the final head ends; never changed by the
   * parser. Reset at each response BEGIN is the caller's job: it knows
   * the request order. */
  bool req_head;
  bool req_connect;

  /* Public results. Valid from HEAD until the next BEGIN. */
  union {
    struct xr_hp_request req;
    struct xr_hp_response resp;
  } u;
  long long body_bytes;            /* body octets seen (chunked: decoded) */
  bool until_close;                /* response body runs to end of stream */
  bool upgrade;                    /* 101 or CONNECT 2xx: not HTTP after DONE */
};

void xr_hp_init(struct xr_hp *p, enum xr_hp_dir dir);
/* xr_hp_init for a parser whose bytes are all zero already (a connection
 * record fresh from xr_fd_attach): the same state without clearing its
 * 1.6 kB again. */
void xr_hp_init_zeroed(struct xr_hp *p, enum xr_hp_dir dir);

/*
 * Consumes bytes from buf up to and including the next event and returns
 * how many; *ev receives the event. XR_HP_EV_NONE: all len bytes were
 * consumed and no event is pending. XR_HP_EV_ERROR: returns len (the
 * bytes are dropped, the caller stops following); from then on every call
 * returns len and ERROR. BEGIN, HEAD and DONE: returns the bytes up to and
 * including the one that caused the event, at least 1, with one exception:
 * a message without body (no body by its framing, 204, 304, a response to
 * HEAD, 101, CONNECT 2xx) reports HEAD at the last byte of its head and
 * DONE on the next call, which consumes 0 bytes, even when len is 0. buf
 * may be NULL when len is 0.
 *
 * So the caller calls again, with what is left (possibly nothing), until
 * the event is NONE or ERROR; this never misses an event:
 *
 *   enum xr_hp_event ev;
 *   do {
 *     size_t n = xr_hp_feed(p, buf, len, &ev);
 *     buf += n;
 *     len -= n;
 *     handle(ev);         (BEGIN of a response: set req_head / req_connect)
 *   } while (ev != XR_HP_EV_NONE && ev != XR_HP_EV_ERROR);
 *
 * The loop ends: every call consumes a byte or ends it, except the one
 * 0-byte DONE after a HEAD.
 *
 * Leniencies and choices: empty lines before a request line are skipped
 * (not before a status line); a bare LF ends a line like CRLF, a CR not
 * followed by LF is an error; obs-fold lines are ignored; HTTP/1.2..1.9
 * read as 1.1; a chunk size counts up to 15 significant hex digits; chunk
 * extensions and trailers are skipped unread. Errors: a Content-Length
 * that is not all digits (a list such as "5, 5" included) or above
 * LLONG_MAX, two that differ, a request Transfer-Encoding whose last
 * coding is not chunked (a response's means: body until close). Head
 * size: every byte from the first of the start line (empty lines before a
 * request included) to the LF of the empty line counts; each chunk-size
 * line and the trailer section are held to XR_HP_HEAD_MAX as well. Host,
 * User-Agent and X-Forwarded-For: the first header wins.
 */
size_t xr_hp_feed(struct xr_hp *p, const char *buf, size_t len,
                  enum xr_hp_event *ev);

/* The stream ended (EOF or close). Returns XR_HP_EV_DONE when this ends a
 * close-delimited response body (also right after its HEAD, and when a
 * 0-byte DONE was still pending), XR_HP_EV_NONE between messages, and
 * XR_HP_EV_ERROR when a message was cut short (in a head, a counted or
 * chunked body) or the parser was in error already. After DONE or NONE
 * the parser is idle; after ERROR it stays in error. */
enum xr_hp_event xr_hp_eof(struct xr_hp *p);

/* The parser is between messages (nothing of the next one seen yet). */
bool xr_hp_idle(const struct xr_hp *p);

/* Body bytes the caller could not see (sendfile): counted as body when a
 * Content-Length body with at least n bytes left, or a close-delimited
 * body, is in progress; anything else (a head, a chunked body, idle, more
 * than the bytes left) puts the parser in ERROR. n == 0 changes nothing.
 * Returns the event this causes: DONE when the body is now complete (the
 * parser is idle), NONE, or ERROR. */
enum xr_hp_event xr_hp_skip(struct xr_hp *p, unsigned long long n);

#endif /* XR_HTTP_SNIFF_H */
