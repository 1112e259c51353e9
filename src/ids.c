#include "xr_setup.h"

#include "ids.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct xr_rng {
  uint64_t s[4];
  unsigned generation; /* 0 = never seeded */
};

static XR_TLS struct xr_rng xr_rng;
static atomic_uint xr_rng_generation = 1;

static uint64_t xr_splitmix(uint64_t *x)
{
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void xr_rng_seed(struct xr_rng *r, unsigned gen)
{
  uint64_t seed[4];
  /* The system call, not glibc's getrandom(): that one is a cancellation
   * point, and a thread's first draw happens inside hooked calls, in the
   * middle of a centralized sampling decision (its reader count would stay
   * raised for good) or of trace ids: a pending pthread_cancel must not act
   * there. */
  ssize_t got = (ssize_t)syscall(SYS_getrandom, seed, sizeof(seed), GRND_NONBLOCK);
  size_t i;

  if (got != (ssize_t)sizeof(seed)) {
    /* No entropy yet (early boot): mix what differs between threads and
     * processes; ids stay unique, just not unpredictable. */
    struct timespec ts;
    uint64_t x;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
        ((uint64_t)syscall(SYS_gettid) << 16) ^ (uint64_t)(uintptr_t)r;
    for (i = 0; i < 4; i++)
      seed[i] = xr_splitmix(&x);
  }
  for (i = 0; i < 4; i++)
    r->s[i] = seed[i];
  if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
    r->s[0] = 1;
  r->generation = gen;
}

static inline uint64_t xr_rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t xr_next(void)
{
  struct xr_rng *r = &xr_rng;
  unsigned gen = atomic_load_explicit(&xr_rng_generation, memory_order_relaxed);
  uint64_t result, t;

  if (XR_UNLIKELY(r->generation != gen))
    xr_rng_seed(r, gen);
  result = xr_rotl(r->s[1] * 5, 7) * 9;
  t = r->s[1] << 17;
  r->s[2] ^= r->s[0];
  r->s[3] ^= r->s[1];
  r->s[1] ^= r->s[2];
  r->s[0] ^= r->s[3];
  r->s[2] ^= t;
  r->s[3] = xr_rotl(r->s[3], 45);
  return result;
}

/* Byte b as two lowercase hex digits: xr_hex2[2b], xr_hex2[2b + 1]. */
static const char xr_hex2[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* The low 4 * digits bits of v, most significant first; digits even. */
static inline void xr_hex64(uint64_t v, char *out, int digits)
{
  int i;
  for (i = digits - 2; i >= 0; i -= 2) {
    memcpy(out + i, xr_hex2 + (v & 0xff) * 2, 2);
    v >>= 8;
  }
}

void xr_new_entity_id(char out[XR_ID_LEN + 1])
{
  uint64_t v;
  do
    v = xr_next();
  while (v == 0);
  xr_hex64(v, out, 16);
  out[16] = '\0';
}

void xr_new_trace_id(char out[XR_TRACE_ID_LEN + 1], int64_t epoch_seconds)
{
  out[0] = '1';
  out[1] = '-';
  xr_hex64((uint64_t)epoch_seconds & 0xffffffffULL, out + 2, 8);
  out[10] = '-';
  xr_hex64(xr_next() >> 32, out + 11, 8);
  xr_hex64(xr_next(), out + 19, 16);
  out[35] = '\0';
}

double xr_random_unit(void)
{
  return (double)(xr_next() >> 11) * (1.0 / 9007199254740992.0);
}

void xr_ids_fork_child(void)
{
  atomic_fetch_add_explicit(&xr_rng_generation, 1, memory_order_relaxed);
}

static bool xr_is_lower_hex(const char *s, size_t n)
{
  size_t i;
  for (i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

bool xr_is_entity_id(const char *s, size_t len)
{
  return len == XR_ID_LEN && xr_is_lower_hex(s, len);
}

bool xr_is_trace_id(const char *s, size_t len)
{
  return len == XR_TRACE_ID_LEN && s[0] == '1' && s[1] == '-' &&
         s[10] == '-' && xr_is_lower_hex(s + 2, 8) &&
         xr_is_lower_hex(s + 11, 24);
}
