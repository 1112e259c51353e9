#!/usr/bin/python3
"""Integration test: the C API (include/xray-auto.h) used header-only by <build>/api_example
(examples/api_example.c: links libc only), under LD_PRELOAD and without it.

Scenarios:
- traced (XRAY_AUTO_SAMPLING=all, a GET to httpd.py inside the "fetch" subsegment): one
  segment document at the collector, checked field by field: name, user, annotations with
  their JSON types (string, number, boolean), metadata namespaces ("default", "app") and
  values, nothing of the refused calls (a key with a dash, JSON that does not parse, the
  reserved "AWS." namespace: each -EINVAL), "fetch" (namespace remote, its own annotation)
  embedding the traced GET (a remote subsegment with url and status), "process" embedding
  "validate", each with error/throttle/fault flags and cause.exceptions as recorded; the
  GET reaches httpd unchanged (the sockets layer injects nothing).
- joined: an incoming header's Root and Parent become the segment's trace_id and parent_id.
- unsampled (an incoming header with Sampled=0): every valid call returns 0, the refused ones
  still -EINVAL, no document.
- no preload: exit 0, "tracing off", every call -ENOSYS, the GET still made.

Usage: test_api.py BUILD_DIR   (exit 0 pass, 1 fail)
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROG = "api_example"
EINVAL, ENOSYS = -22, -38
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"

VALID_CALLS = ["begin_segment", "set_user", "annotation_string", "annotation_number",
               "annotation_bool", "metadata_default", "metadata_app", "begin_fetch",
               "annotation_status", "end_fetch", "begin_process", "begin_validate",
               "error_validate", "end_validate", "error_throttle", "end_process", "end_segment"]
REFUSED_CALLS = ["bad_key", "bad_json", "reserved_namespace"]


def results(res):
    out = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def check_results(res, what, valid_rc, refused_rc):
    r = results(res)
    check(res.returncode == 0, "%s: exit status %s" % (what, res.returncode), res.describe())
    for name in VALID_CALLS:
        check(r.get(name) == valid_rc, "%s: %s returned %r, expected %d"
              % (what, name, r.get(name), valid_rc), res.describe())
    for name in REFUSED_CALLS:
        check(r.get(name) == refused_rc, "%s: %s returned %r, expected %d"
              % (what, name, r.get(name), refused_rc), res.describe())
    check(r.get("get") == 200, "%s: the GET inside fetch got %r" % (what, r.get("get")))


def child(entity, name):
    subs = [s for s in entity.get("subsegments") or [] if s.get("name") == name]
    check(len(subs) == 1, "%s has %d subsegments named %r, expected 1"
          % (entity.get("name"), len(subs), name), entity)
    return subs[0] if subs else {}


def check_exception(entity, what, etype, message, remote):
    exs = H.get(entity, "cause", "exceptions") or []
    check(len(exs) == 1, "%s: %d exceptions, expected 1" % (what, len(exs)), entity)
    if not exs:
        return
    ex = exs[0]
    check(ex.get("type") == etype and ex.get("message") == message
          and ex.get("remote") is remote, "%s: exception %r" % (what, ex), entity)
    check(isinstance(ex.get("id"), str) and len(ex["id"]) == 16, "%s: exception id" % what, ex)
    check(isinstance(H.get(entity, "cause", "working_directory"), str),
          "%s: cause.working_directory" % what, entity)


def check_flags(entity, what, error, throttle, fault):
    got = (entity.get("error") is True, entity.get("throttle") is True,
           entity.get("fault") is True)
    check(got == (error, throttle, fault), "%s: error/throttle/fault %r, expected %r"
          % (what, got, (error, throttle, fault)), entity)


def scenario_traced(s, httpd, incoming=None):
    what = "joined" if incoming else "traced"
    cmd = [os.path.join(s.build, PROG), str(httpd.port)] + ([incoming] if incoming else [])
    res = s.run(cmd, expect_docs=1, httpd=httpd)
    check_results(res, what, 0, EINVAL)
    check("tracing on: libxray-auto" in res.stdout, "%s: the example must see the library"
          % what, res.describe())
    segs = H.segments(res.docs)
    check(len(res.docs) == 1 and len(segs) == 1, "%s: %d documents, expected the job's segment"
          % (what, len(res.docs)), res.docs)
    if not segs:
        return
    seg = segs[0]
    check(seg.get("name") == "api-example-job", "%s: segment name" % what, seg)
    check(seg.get("user") == "alice", "%s: segment user" % what, seg)
    if incoming:
        check(seg.get("trace_id") == ROOT and seg.get("parent_id") == PARENT,
              "%s: the incoming header's Root and Parent" % what, seg)
    else:
        check("parent_id" not in seg, "%s: a new trace has no parent_id" % what, seg)
    ann = seg.get("annotations") or {}
    check(ann == {"job_id": "job-42", "items": 3, "dry_run": False}
          and isinstance(ann.get("items"), int) and ann.get("dry_run") is False,
          "%s: segment annotations (types string, number, boolean; no refused key)" % what, seg)
    meta = seg.get("metadata") or {}
    check(meta == {"default": {"config": {"batch": 3, "mode": "fast", "tags": ["a", "b"]}},
                   "app": {"input": [1, 2, 3]}},
          "%s: metadata namespaces and values (nothing of the refused calls)" % what, seg)
    check_flags(seg, what + ": segment", False, False, False)
    check("cause" not in seg, "%s: the segment recorded no error" % what, seg)
    check([c.get("name") for c in seg.get("subsegments") or []] == ["fetch", "process"],
          "%s: the segment's subsegments, in order" % what, seg)

    fetch = child(seg, "fetch")
    check(fetch.get("namespace") == "remote", "%s: fetch namespace" % what, fetch)
    check(fetch.get("annotations") == {"status_code": 200}, "%s: fetch's annotation" % what,
          fetch)
    check(seg["start_time"] <= fetch.get("start_time", 0) <= fetch.get("end_time", 0)
          <= seg["end_time"], "%s: fetch within the segment" % what, seg)
    get = child(fetch, "127.0.0.1")
    check(get.get("namespace") == "remote"
          and H.get(get, "http", "request", "method") == "GET"
          and H.get(get, "http", "request", "url") == "http://127.0.0.1:%d/ok" % httpd.port
          and H.get(get, "http", "response", "status") == 200,
          "%s: the traced GET inside fetch" % what, get)
    check(fetch["start_time"] <= get.get("start_time", 0) <= get.get("end_time", 0)
          <= fetch["end_time"], "%s: the GET within fetch" % what, fetch)
    # The sockets layer never rewrites a request (test_net_client.py): no header to check
    # here; a libcurl call's Parent inside an API subsegment is unit.api's.
    reqs = [r for r in res.requests if r.get("path") == "/ok"]
    check(len(reqs) == 1 and reqs[0].get("trace_header_count") == 0,
          "%s: httpd saw one GET /ok, unchanged" % what, res.requests)

    process = child(seg, "process")
    check(process.get("namespace") == "local", "%s: process namespace" % what, process)
    check_flags(process, what + ": process", True, True, False)
    check_exception(process, what + ": process", "Throttled", "downstream said 429", True)
    validate = child(process, "validate")
    check_flags(validate, what + ": validate", True, False, False)
    check_exception(validate, what + ": validate", "ValidationError",
                    'item 3: missing field "sku"', False)
    ids = [seg.get("id"), fetch.get("id"), get.get("id"), process.get("id"), validate.get("id")]
    check(len(set(ids)) == len(ids), "%s: distinct ids" % what, ids)


def scenario_unsampled(s, httpd):
    """Joined with Sampled=0: the upstream decided not to record this trace."""
    res = s.run([os.path.join(s.build, PROG), str(httpd.port),
                 "Root=%s;Parent=%s;Sampled=0" % (ROOT, PARENT)],
                expect_docs=None, httpd=httpd, grace=0.5)
    check_results(res, "unsampled", 0, EINVAL)
    check(res.docs == [], "unsampled: no document", res.docs)


def scenario_no_preload(s, httpd):
    res = s.run([os.path.join(s.build, PROG), str(httpd.port)], preload=False, httpd=httpd)
    check_results(res, "no preload", ENOSYS, ENOSYS)
    check("tracing off" in res.stdout, "no preload: the example says tracing is off",
          res.describe())
    reqs = [r for r in res.requests if r.get("path") == "/ok"]
    check(len(reqs) == 1 and reqs[0].get("trace_header_count") == 0,
          "no preload: the GET made, with no trace header", res.requests)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    s = H.Session(sys.argv[1], "api")
    s.require_build(PROG)
    httpd = s.start_httpd()
    H.scenario("traced", scenario_traced, s, httpd)
    H.scenario("joined", scenario_traced, s, httpd,
               "Root=%s;Parent=%s;Sampled=1" % (ROOT, PARENT))
    H.scenario("unsampled", scenario_unsampled, s, httpd)
    H.scenario("no preload", scenario_no_preload, s, httpd)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
