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
  ssize_t got = getrandom(seed, sizeof(seed), GRND_NONBLOCK);
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

static const char xr_hex[] = "0123456789abcdef";

static void xr_hex64(uint64_t v, char *out, int digits)
{
  int i;
  for (i = digits - 1; i >= 0; i--) {
    out[i] = xr_hex[v & 0xf];
    v >>= 4;
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
