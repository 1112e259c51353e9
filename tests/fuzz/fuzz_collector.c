/*
 * Fuzz target: what `xray-auto collect` does with a received datagram
 * (tools/xray-auto/collect.c xt_on_datagram): validate it (validate.c), print the accepted
 * document as a JSONL line, keep it in the trace store (store.c) and print the trace trees
 * (tree.c).
 *
 * Input: one or more datagrams separated by the byte 0x1e (ASCII record separator; at most
 * 32), each given to the validator in an exact-size heap block, as recv() would leave it.
 *
 * Oracles:
 *  - a rejected datagram: -EINVAL (or -ENOMEM), no document, a reason that is non-empty,
 *    NUL-terminated and printable ASCII (validate.h: "no raw input echoed");
 *  - an accepted one: a document with a valid trace_id and id, `large` exactly when over
 *    XT_DATAGRAM_WARN bytes, `subsegment` exactly when it has "type"; every byte of the
 *    datagram is printable or JSON whitespace (no NUL or raw control byte got through) and
 *    valid UTF-8; the JSONL line (cJSON's print) behind a header is accepted again, with the
 *    same verdict;
 *  - a length above XT_DATAGRAM_MAX is refused without reading the buffer;
 *  - tree: xt_print_trace() of the accepted documents prints the header line and exactly one
 *    line per entity (documents and all nested subsegments): none lost, none twice, whatever
 *    parent_id links (cycles included) the documents make;
 *  - store: after adding every accepted document, a flush before the quiet period forgets
 *    nothing, one after it forgets exactly the traces holding a finished segment (no "type",
 *    numeric end_time), a final flush the rest: one "trace " line per distinct trace_id.
 */
#define _GNU_SOURCE
#include "fuzz_common.h"

#include "store.h"
#include "tree.h"
#include "validate.h"

#include <errno.h>
#include <string.h>

#include <cJSON.h>

#define MAX_DATAGRAMS 32
#define HEADER "{\"format\":\"json\",\"version\":1}\n"

static size_t count_entities(const cJSON *e)
{
  const cJSON *subs = cJSON_GetObjectItemCaseSensitive(e, "subsegments"), *c;
  size_t n = 1;
  if (cJSON_IsArray(subs))
    cJSON_ArrayForEach(c, subs) if (cJSON_IsObject(c)) n += count_entities(c);
  return n;
}

static size_t count_lines(const char *s, size_t n, const char *prefix)
{
  size_t lines = 0, i, plen = prefix ? strlen(prefix) : 0;
  bool bol = true;
  for (i = 0; i < n; i++) {
    if (bol && (!prefix || (n - i >= plen && memcmp(s + i, prefix, plen) == 0)))
      lines++;
    bol = s[i] == '\n';
  }
  return lines;
}

static void check_reason(const struct xt_verdict *v)
{
  const char *nul = memchr(v->reason, '\0', sizeof(v->reason));
  const char *p;
  XR_FZ_CHECK(nul && nul != v->reason);
  for (p = v->reason; p < nul; p++)
    XR_FZ_CHECK(*p >= 0x20 && *p < 0x7f);
}

static bool text_bytes_ok(const char *b, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)b[i];
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
      return false;
  }
  return xr_fz_utf8_ok((const unsigned char *)b, n);
}

/* The JSONL line behind a header must be accepted again, with the same verdict. */
static void check_reprint(const struct xt_verdict *v)
{
  char *line = cJSON_PrintUnformatted(v->doc), *dg;
  struct xt_verdict v2;
  size_t n, hl = sizeof(HEADER) - 1;

  XR_FZ_CHECK(line != NULL);
  n = strlen(line);
  XR_FZ_CHECK(!memchr(line, '\n', n));
  if (hl + n <= XT_DATAGRAM_MAX) {
    dg = malloc(hl + n);
    XR_FZ_CHECK(dg != NULL);
    memcpy(dg, HEADER, hl);
    memcpy(dg + hl, line, n);
    if (xt_validate_datagram(dg, hl + n, &v2) != 0) {
      fprintf(stderr, "reprinted document refused: %s\n%.2000s\n", v2.reason, line);
      XR_FZ_CHECK(!"the JSONL line of an accepted document is not accepted again");
    }
    XR_FZ_CHECK(v2.subsegment == v->subsegment);
    cJSON_Delete(v2.doc);
    free(dg);
  }
  cJSON_free(line);
}

static void check_tree(cJSON **docs, size_t n)
{
  char *out = NULL;
  size_t olen = 0, want = 1, i;
  FILE *f = open_memstream(&out, &olen);
  XR_FZ_CHECK(f != NULL);
  for (i = 0; i < n; i++)
    want += count_entities(docs[i]);
  XR_FZ_CHECK(xt_print_trace(f, "1-00000000-000000000000000000000000", docs, n, 0, false) == 0);
  XR_FZ_CHECK(fclose(f) == 0);
  if (count_lines(out, olen, NULL) != want) {
    fprintf(stderr, "want %zu lines:\n%.4000s\n", want, out);
    XR_FZ_CHECK(!"the tree does not print each entity exactly once");
  }
  free(out);
}

static void check_store(cJSON **docs, size_t n)
{
  struct xt_store *s = xt_store_new();
  const char *tids[MAX_DATAGRAMS];
  bool complete[MAX_DATAGRAMS];
  size_t ntids = 0, ncomplete = 0, i, j, done;
  char *out = NULL;
  size_t olen = 0;
  FILE *f = open_memstream(&out, &olen);

  XR_FZ_CHECK(s && f);
  for (i = 0; i < n; i++) {
    const char *tid = cJSON_GetObjectItemCaseSensitive(docs[i], "trace_id")->valuestring;
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(docs[i], "end_time");
    for (j = 0; j < ntids && strcmp(tids[j], tid) != 0; j++)
      ;
    if (j == ntids) {
      complete[ntids] = false;
      tids[ntids++] = tid;
    }
    /* A trace is finished by a segment (no "type") document with an end_time. */
    if (!cJSON_GetObjectItemCaseSensitive(docs[i], "type") && cJSON_IsNumber(end))
      complete[j] = true;
    XR_FZ_CHECK(xt_store_add(s, cJSON_Duplicate(docs[i], 1), 0.0) == 0);
  }
  for (j = 0; j < ntids; j++)
    ncomplete += complete[j];
  /* Not quiet long enough yet: nothing goes. */
  XR_FZ_CHECK(xt_store_flush(s, 0.5, 1.0, false, f) == 0);
  /* Quiet: the finished traces go, the others stay until the end. */
  done = xt_store_flush(s, 2.0, 1.0, false, f);
  XR_FZ_CHECK(done == ncomplete);
  done = xt_store_flush(s, 2.0, 1.0, true, f);
  XR_FZ_CHECK(done == ntids - ncomplete);
  XR_FZ_CHECK(fclose(f) == 0);
  XR_FZ_CHECK(count_lines(out, olen, "trace ") == ntids);
  free(out);
  xt_store_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  cJSON *docs[MAX_DATAGRAMS];
  struct xt_verdict v;
  size_t ndocs = 0, at = 0, i, k = 0;
  char one;

  /* Too long to have been received whole: the buffer must not be read. */
  XR_FZ_CHECK(xt_validate_datagram(&one, XT_DATAGRAM_MAX + 1 + (size & 0xff), &v) == -EINVAL);
  XR_FZ_CHECK(v.doc == NULL && v.large);
  check_reason(&v);

  while (at <= size && k < MAX_DATAGRAMS) {
    const uint8_t *sep = memchr(data + at, 0x1e, size - at);
    size_t n = (sep ? (size_t)(sep - data) : size) - at;
    char *buf = malloc(n ? n : 1);
    int rc;

    XR_FZ_CHECK(buf != NULL);
    memcpy(buf, data + at, n);
    rc = xt_validate_datagram(buf, n, &v);
    k++;
    if (rc != 0) {
      XR_FZ_CHECK(rc == -EINVAL || rc == -ENOMEM);
      XR_FZ_CHECK(v.doc == NULL);
      check_reason(&v);
    } else {
      const char *tid, *id;
      XR_FZ_CHECK(cJSON_IsObject(v.doc));
      tid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v.doc, "trace_id"));
      id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v.doc, "id"));
      XR_FZ_CHECK(xt_is_trace_id(tid) && xt_is_entity_id(id));
      XR_FZ_CHECK(v.large == (n > XT_DATAGRAM_WARN));
      XR_FZ_CHECK(v.subsegment == (cJSON_GetObjectItemCaseSensitive(v.doc, "type") != NULL));
      XR_FZ_CHECK(text_bytes_ok(buf, n));
      check_reprint(&v);
      docs[ndocs++] = v.doc;
    }
    free(buf);
    if (!sep)
      break;
    at += n + 1;
  }

  check_tree(docs, ndocs);
  check_store(docs, ndocs);
  for (i = 0; i < ndocs; i++)
    cJSON_Delete(docs[i]);
  return 0;
}
