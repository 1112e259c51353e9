#!/usr/bin/python3
"""Integration test: `git clone` over the dumb HTTP protocol under libxray-auto.so.

The transfers happen in git's remote helper (git-remote-http, libcurl easy + multi), so the
documents are named after it.  Part of the repository is packed and part is loose, so the
clone both fetches loose objects and probes names that answer 404 before it finds the pack.

Usage: test_git_clone.py BUILD_DIR   (exit 0 pass, 1 fail, 77 skip: git not installed)
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from harness import check  # noqa: E402

PROGRAM = "git-remote-http"


def git_env():
    env = S.base_env()
    env.update({
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
        "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
        "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    })
    return env


def git(*args, cwd=None):
    p = subprocess.run([GIT] + list(args), cwd=cwd or S.tmp, env=git_env(),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise H.HarnessError("git %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                         p.stderr.decode(errors="replace")))
    return p.stdout.decode().strip()


def make_repo():
    """srv/repo.git: commits 1-2 packed, commits 3-4 loose; returns (static dir, HEAD)."""
    work = S.path("work")
    srv = S.path("srv")
    bare = os.path.join(srv, "repo.git")
    git("init", "-q", "-b", "main", work)
    for i in range(1, 5):
        with open(os.path.join(work, "file%d.txt" % i), "w") as f:
            f.write("content %d\n" % i * (i * 10))
        os.makedirs(os.path.join(work, "dir%d" % i), exist_ok=True)
        with open(os.path.join(work, "dir%d" % i, "nested.txt"), "w") as f:
            f.write("nested %d\n" % i)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "commit %d" % i, cwd=work)
        if i == 2:
            git("clone", "-q", "--bare", work, bare)
            git("repack", "-a", "-d", "-q", cwd=bare)
    git("push", "-q", bare, "main", cwd=work)
    git("update-server-info", cwd=bare)
    return srv, git("rev-parse", "HEAD", cwd=work)


def t_clone():
    static, head = make_repo()
    srv = S.start_httpd(static=static)
    url = srv.url("/repo.git")
    env = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}

    base = S.run([GIT, "clone", "-q", url, S.path("plain")], preload=False, httpd=srv, env=env)
    check(base.returncode == 0, "clone without preload failed (test setup)", base.describe())
    check(any(r["status"] == 404 for r in base.requests),
          "setup: expected the dumb protocol to probe some missing files (404)", base.requests)

    res = S.run([GIT, "clone", "-q", url, S.path("traced")], httpd=srv, env=env,
                expect_docs=lambda reqs: len(reqs), timeout=90)
    check(res.returncode == 0, "git clone under the preload failed", res.describe())
    check(res.stdout == base.stdout, "git clone stdout differs with the preload",
          {"with": res.stdout, "without": base.stdout})
    if res.returncode == 0:
        h1 = git("rev-parse", "HEAD", cwd=S.path("traced"))
        h0 = git("rev-parse", "HEAD", cwd=S.path("plain"))
        check(h1 == h0 == head, "cloned HEAD %s, expected %s" % (h1, head))
        check(git("rev-parse", "HEAD^{tree}", cwd=S.path("traced"))
              == git("rev-parse", "HEAD^{tree}", cwd=S.path("plain")),
              "cloned tree differs from the clone without preload")
        check(git("rev-list", "--count", "HEAD", cwd=S.path("traced")) == "4",
              "cloned history must have 4 commits")
        git("fsck", "--no-progress", cwd=S.path("traced"))

    check(len(res.requests) >= 5, "expected several requests to httpd, got %d"
          % len(res.requests), res.requests)
    check(sorted((r["path"], r["status"]) for r in res.requests)
          == sorted((r["path"], r["status"]) for r in base.requests),
          "the clone made different requests with the preload",
          {"with": [r["path"] for r in res.requests],
           "without": [r["path"] for r in base.requests]})
    for r in res.requests:
        check(r["method"] == "GET" and r["status"] in (200, 404),
              "unexpected request %s %s -> %s" % (r["method"], r["path"], r["status"]), r)
    H.check_headers_subset(res.requests, base.requests, "git clone")
    # git sets CURLOPT_FAILONERROR on most requests: libcurl stops reading a 404's body
    H.verify_transfers(res, PROGRAM, srv.base, label="git clone", lenient_length=True)
    check(len(res.docs) == len(res.requests), "%d documents for %d requests"
          % (len(res.docs), len(res.requests)), res.docs)


def main():
    global S, GIT
    if len(sys.argv) != 2:
        print("usage: %s BUILD_DIR" % sys.argv[0])
        return 2
    GIT = H.which("git")
    if not GIT:
        H.skip("git not installed")
    exec_path = subprocess.run([GIT, "--exec-path"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL).stdout.decode().strip()
    if not os.path.exists(os.path.join(exec_path, PROGRAM)):
        H.skip("git has no HTTP transport (%s not found in %s)" % (PROGRAM, exec_path))
    S = H.Session(sys.argv[1], "git_clone")
    S.require_build()
    H.scenario("git clone (dumb http)", t_clone)
    return H.summary()


if __name__ == "__main__":
    sys.exit(main())
