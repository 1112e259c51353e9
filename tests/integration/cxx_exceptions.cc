// tests/integration/cxx_exceptions.cc: an ordinary C++ program that throws and catches
// exceptions through several frames, in a loop, on several threads, while libpq connection
// attempts to a refused port fail all along (under libxray-auto.so each failure is a fault
// subsegment whose stack the library reads with libunwind, which it dlopens RTLD_LOCAL on the
// first one). It knows nothing about the library; test_cxx_exceptions.py runs it with and
// without the preload and compares the output.
//
// What the exceptions go through: a throw 4 frames deep with a guard object in each frame
// (destructors during unwinding), catch by base class and rethrow (`throw;`), a nested
// try/catch inside a handler, std::throw_with_nested + std::rethrow_if_nested, a non-class
// exception (int) caught by `catch (...)`, std::exception_ptr carried from a worker thread to
// the main thread, a destructor that makes a failing connection attempt while an exception is
// in flight (a stack captured from inside unwinding), and pthread_cancel of a thread blocked
// in read() (glibc's forced unwinding runs its destructors).
//
// Usage: cxx_exceptions CONNINFO [ITERATIONS [THREADS]] [--maps FILE]
//   CONNINFO:   a libpq conninfo whose server refuses (e.g. host=127.0.0.1 port=<free>)
//   ITERATIONS: loop rounds per thread (default 40), THREADS: worker threads (default 3)
//   --maps:     copy /proc/self/maps to FILE at the end (what the test reads to see which
//               objects were loaded); stdout is the same either way
// Output: a deterministic summary on stdout; exit 0 when every count is what it must be,
// 1 otherwise (a check failed: printed), 2 on usage errors.

#include <libpq-fe.h>

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

const char *g_conninfo;
std::atomic<long> g_guards_destroyed{0};
std::atomic<long> g_guards_unwinding{0};  // destroyed while an exception was in flight
std::atomic<long> g_connect_attempts{0};
std::atomic<long> g_connect_failures{0};

struct BaseError : std::runtime_error {
  int code;
  BaseError(const std::string &what, int c) : std::runtime_error(what), code(c) {}
};
struct DeepError : BaseError {
  int depth;
  DeepError(const std::string &what, int c, int d) : BaseError(what, c), depth(d) {}
};
struct ConnectError : BaseError {
  explicit ConnectError(int c) : BaseError("connection refused as expected", c) {}
};

// One failing connection attempt: a fault subsegment (with a stack) under the preload.
// Returns libpq's status, which must be CONNECTION_BAD.
__attribute__((noinline)) int failing_connect()
{
  g_connect_attempts++;
  PGconn *c = PQconnectdb(g_conninfo);
  int st = PQstatus(c);
  PQfinish(c);
  if (st == CONNECTION_BAD)
    g_connect_failures++;
  return st;
}

// Counts its destruction; when asked, makes a failing connection attempt from the
// destructor, i.e. while the exception that destroys it unwinds the frame.
struct Guard {
  bool connect_in_dtor;
  explicit Guard(bool c = false) : connect_in_dtor(c) {}
  ~Guard()
  {
    g_guards_destroyed++;
    if (std::uncaught_exceptions() > 0) {
      g_guards_unwinding++;
      if (connect_in_dtor)
        (void)failing_connect();
    }
  }
  Guard(const Guard &) = delete;
  Guard &operator=(const Guard &) = delete;
};

// The thrower, 4 frames below the catcher; what it throws depends on i.
__attribute__((noinline)) void level4(int i)
{
  Guard g;
  switch (i % 4) {
  case 0:
    throw DeepError("deep", i, 4);
  case 1:
    throw std::out_of_range("index " + std::to_string(i));
  case 2:
    throw i;  // not a class: only catch (...) takes it
  default:
    if (failing_connect() == CONNECTION_BAD)
      throw ConnectError(i);
    throw std::logic_error("connect unexpectedly succeeded");
  }
}

__attribute__((noinline)) void level3(int i)
{
  Guard g(i % 8 == 3);  // every other ConnectError: a connect from inside the unwinding
  level4(i);
}

// Catches by base class, notes it, rethrows the same object.
__attribute__((noinline)) int level2(int i, long *rethrown)
{
  Guard g;
  try {
    level3(i);
  } catch (BaseError &e) {
    e.code += 1000;  // the rethrown object is this one: the catcher sees the change
    ++*rethrown;
    throw;
  }
  return 0;
}

__attribute__((noinline)) int level1(int i, long *rethrown)
{
  Guard g;
  std::vector<std::string> v(3, "unwound with the frame");
  return level2(i, rethrown) + static_cast<int>(v.size());
}

struct Tally {
  long deep = 0, connect = 0, out_of_range = 0, foreign = 0, rethrown = 0, nested = 0,
       nested_chain = 0, code_sum = 0, thread_ptr = 0;
  void add(const Tally &o)
  {
    deep += o.deep;
    connect += o.connect;
    out_of_range += o.out_of_range;
    foreign += o.foreign;
    rethrown += o.rethrown;
    nested += o.nested;
    nested_chain += o.nested_chain;
    code_sum += o.code_sum;
    thread_ptr += o.thread_ptr;
  }
};

// Walks a std::throw_with_nested chain; returns its length.
int chain_length(const std::exception &e)
{
  try {
    std::rethrow_if_nested(e);
  } catch (const std::exception &inner) {
    return 1 + chain_length(inner);
  }
  return 1;
}

void round_trip(int i, Tally &t)
{
  try {
    (void)level1(i, &t.rethrown);
    throw std::logic_error("level1 returned");
  } catch (const DeepError &e) {
    t.deep++;
    t.code_sum += e.code + e.depth;
    // a nested try inside a handler, throwing a new exception while this one is handled
    try {
      throw std::runtime_error("inside a handler");
    } catch (const std::runtime_error &) {
      t.nested++;
    }
  } catch (const ConnectError &e) {
    t.connect++;
    t.code_sum += e.code;
    try {
      std::throw_with_nested(std::runtime_error("while connecting"));
    } catch (const std::exception &outer) {
      t.nested_chain += chain_length(outer);
    }
  } catch (const std::out_of_range &e) {
    t.out_of_range++;
    t.code_sum += static_cast<long>(std::strlen(e.what()));
  } catch (...) {
    t.foreign++;
    try {
      throw;  // rethrow the int from catch (...) to read it
    } catch (int v) {
      t.code_sum += v;
    }
  }
}

void worker(int iterations, Tally *out, std::exception_ptr *carried)
{
  Tally t;
  for (int i = 0; i < iterations; i++)
    round_trip(i, t);
  try {
    level4(3);  // a ConnectError that leaves the thread as an exception_ptr
  } catch (...) {
    *carried = std::current_exception();
  }
  *out = t;
}

int g_cancel_pipe[2];

void *cancel_target(void *)
{
  Guard g;
  char c;
  // read() is a cancellation point: the forced unwind destroys g
  (void)read(g_cancel_pipe[0], &c, 1);
  return nullptr;
}

int failures;

void expect(bool ok, const char *what, long got, long want)
{
  if (!ok) {
    std::printf("CHECK FAILED: %s: %ld, expected %ld\n", what, got, want);
    failures++;
  }
}

}  // namespace

int main(int argc, char **argv)
{
  const char *maps = nullptr;
  std::vector<const char *> pos;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--maps") == 0 && i + 1 < argc)
      maps = argv[++i];
    else
      pos.push_back(argv[i]);
  }
  if (pos.empty() || pos.size() > 3) {
    std::fprintf(stderr, "usage: cxx_exceptions CONNINFO [ITERATIONS [THREADS]] [--maps FILE]\n");
    return 2;
  }
  g_conninfo = pos[0];
  int iterations = pos.size() > 1 ? std::atoi(pos[1]) : 40;
  int nthreads = pos.size() > 2 ? std::atoi(pos[2]) : 3;
  if (iterations < 1 || nthreads < 0) {
    std::fprintf(stderr, "cxx_exceptions: bad ITERATIONS or THREADS\n");
    return 2;
  }

  // A failure first: under the preload, libunwind is loaded before the first throw.
  expect(failing_connect() == CONNECTION_BAD, "first connect status", 0, CONNECTION_BAD);

  Tally total;
  round_trip(0, total);

  std::vector<Tally> tallies(static_cast<size_t>(nthreads));
  std::vector<std::exception_ptr> carried(static_cast<size_t>(nthreads));
  std::vector<std::thread> threads;
  for (int k = 0; k < nthreads; k++)
    threads.emplace_back(worker, iterations, &tallies[static_cast<size_t>(k)],
                         &carried[static_cast<size_t>(k)]);
  Tally mine;
  for (int i = 1; i < iterations; i++)
    round_trip(i, mine);
  for (auto &th : threads)
    th.join();
  total.add(mine);
  for (int k = 0; k < nthreads; k++) {
    total.add(tallies[static_cast<size_t>(k)]);
    try {
      if (carried[static_cast<size_t>(k)])
        std::rethrow_exception(carried[static_cast<size_t>(k)]);
    } catch (const ConnectError &e) {
      total.thread_ptr++;
      total.code_sum += e.code;
    }
  }

  // pthread_cancel: forced unwinding through a C++ frame (glibc unwinds with libgcc_s).
  long before_cancel = g_guards_destroyed.load();
  long cancelled = 0;
  if (pipe(g_cancel_pipe) == 0) {
    pthread_t t;
    if (pthread_create(&t, nullptr, cancel_target, nullptr) == 0) {
      usleep(20000);
      pthread_cancel(t);
      void *res = nullptr;
      pthread_join(t, &res);
      cancelled = (res == PTHREAD_CANCELED) ? 1 : 0;
    }
    close(g_cancel_pipe[0]);
    close(g_cancel_pipe[1]);
  }
  long cancel_dtors = g_guards_destroyed.load() - before_cancel;

  // What every count must be, from the loop's structure alone.
  long rounds = static_cast<long>(iterations) * (nthreads + 1);
  long per[4] = {0, 0, 0, 0};
  for (int k = 0; k < nthreads + 1; k++)
    for (int i = 0; i < iterations; i++)
      per[i % 4]++;
  long dtor_connects = 0;
  for (int k = 0; k < nthreads + 1; k++)
    for (int i = 0; i < iterations; i++)
      dtor_connects += (i % 8 == 3);
  long want_connects = 1 + per[3] + dtor_connects + nthreads;

  std::ostringstream out;
  out << "rounds " << rounds << "\n"
      << "deep " << total.deep << "\n"
      << "connect " << total.connect << "\n"
      << "out_of_range " << total.out_of_range << "\n"
      << "foreign " << total.foreign << "\n"
      << "rethrown " << total.rethrown << "\n"
      << "nested " << total.nested << "\n"
      << "nested_chain " << total.nested_chain << "\n"
      << "thread_exception_ptr " << total.thread_ptr << "\n"
      << "code_sum " << total.code_sum << "\n"
      << "guards_destroyed " << g_guards_destroyed.load() << "\n"
      << "guards_unwinding " << g_guards_unwinding.load() << "\n"
      << "connect_attempts " << g_connect_attempts.load() << "\n"
      << "connect_failures " << g_connect_failures.load() << "\n"
      << "cancelled " << cancelled << " destructors " << cancel_dtors << "\n";
  std::cout << out.str();

  expect(total.deep == per[0], "deep", total.deep, per[0]);
  expect(total.out_of_range == per[1], "out_of_range", total.out_of_range, per[1]);
  expect(total.foreign == per[2], "foreign", total.foreign, per[2]);
  expect(total.connect == per[3], "connect", total.connect, per[3]);
  expect(total.rethrown == per[0] + per[3], "rethrown", total.rethrown, per[0] + per[3]);
  expect(total.nested == per[0], "nested", total.nested, per[0]);
  expect(total.nested_chain == 2 * per[3], "nested_chain", total.nested_chain, 2 * per[3]);
  expect(total.thread_ptr == nthreads, "thread_exception_ptr", total.thread_ptr, nthreads);
  // 4 guards per round (levels 1-4), 1 per thread's extra throw, 1 cancelled
  expect(g_guards_destroyed.load() == 4 * rounds + nthreads + 1, "guards_destroyed",
         g_guards_destroyed.load(), 4 * rounds + nthreads + 1);
  expect(g_guards_unwinding.load() == 4 * rounds + nthreads, "guards_unwinding",
         g_guards_unwinding.load(), 4 * rounds + nthreads);
  expect(g_connect_attempts.load() == want_connects, "connect_attempts",
         g_connect_attempts.load(), want_connects);
  expect(g_connect_failures.load() == want_connects, "connect_failures",
         g_connect_failures.load(), want_connects);
  expect(cancelled == 1 && cancel_dtors == 1, "cancelled thread's destructors", cancel_dtors, 1);

  if (maps) {
    std::ifstream in("/proc/self/maps");
    std::ofstream o(maps);
    o << in.rdbuf();
  }
  std::cout << (failures ? "FAILED" : "OK") << std::endl;
  return failures ? 1 : 0;
}
