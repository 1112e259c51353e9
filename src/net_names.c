#include "xr_setup.h"

#include "net_names.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct xr_addr {
  sa_family_t family;
  unsigned char bytes[16];
};

struct xr_name_list {
  int id;
  int count;
  char name[256];
  struct xr_addr addrs[XR_NAMES_ADDRS];
};

struct xr_names {
  void *aux;                           /* xr_names_aux's block */
  void (*aux_fini)(void *);
  unsigned next;                       /* ring position of the next list */
  struct xr_name_list lists[XR_NAMES_LISTS];
};

static XR_TLS struct xr_names *xr_tnames;
static pthread_key_t xr_names_key;
static pthread_once_t xr_names_once = PTHREAD_ONCE_INIT;
static bool xr_names_key_ok;
static atomic_int xr_list_ids;

/* Thread exit (the key's destructor, on the exiting thread). */
static void xr_names_free(void *p)
{
  struct xr_names *n = p;

  xr_tnames = NULL;
  if (n->aux && n->aux_fini)
    n->aux_fini(n->aux);
  free(n->aux);
  free(n);
}

static void xr_names_key_init(void)
{
  xr_names_key_ok = pthread_key_create(&xr_names_key, xr_names_free) == 0;
}

static bool xr_addr_of(const struct sockaddr *sa, struct xr_addr *a)
{
  memset(a, 0, sizeof(*a));
  a->family = sa->sa_family;
  if (sa->sa_family == AF_INET) {
    memcpy(a->bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    memcpy(a->bytes, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    return true;
  }
  return false;
}

static struct xr_names *xr_names_get(void)
{
  struct xr_names *n = xr_tnames;

  if (n)
    return n;
  (void)pthread_once(&xr_names_once, xr_names_key_init);
  if (!xr_names_key_ok || !(n = calloc(1, sizeof(*n))))
    return NULL;
  /* The key's destructor frees the memory when the thread exits. */
  if (pthread_setspecific(xr_names_key, n) != 0) {
    free(n);
    return NULL;
  }
  xr_tnames = n;
  return n;
}

void xr_names_remember(const char *node, const struct addrinfo *res)
{
  struct xr_names *n;
  struct xr_name_list *l;
  size_t len;

  /* A NULL node (the local host's addresses) has no name to give, but
   * its list still tells a retry from a new attempt (net_fail.c). */
  if (!res || !(n = xr_names_get()))
    return;
  l = &n->lists[n->next++ % XR_NAMES_LISTS];
  memset(l, 0, sizeof(*l));
  len = node ? strnlen(node, sizeof(l->name) - 1) : 0;
  memcpy(l->name, node ? node : "", len);
  l->id = atomic_fetch_add(&xr_list_ids, 1) + 1;
  for (; res && l->count < XR_NAMES_ADDRS; res = res->ai_next) {
    struct xr_addr a;
    int i;

    /* getaddrinfo lists an address once per socket type: keep one. */
    if (!res->ai_addr || !xr_addr_of(res->ai_addr, &a))
      continue;
    for (i = 0; i < l->count; i++)
      if (memcmp(&l->addrs[i], &a, sizeof(a)) == 0)
        break;
    if (i == l->count)
      l->addrs[l->count++] = a;
  }
}

int xr_names_find(const struct sockaddr *sa, char *name, size_t cap,
                  struct xr_name_hit *hit)
{
  struct xr_names *n = xr_tnames;
  struct xr_addr a;
  unsigned k;

  memset(hit, 0, sizeof(*hit));
  if (cap)
    name[0] = '\0';
  if (!n || !xr_addr_of(sa, &a))
    return -ENOENT;
  for (k = 1; k <= XR_NAMES_LISTS; k++) {
    const struct xr_name_list *l = &n->lists[(n->next - k) % XR_NAMES_LISTS];
    int i;

    for (i = 0; i < l->count; i++) {
      if (memcmp(&l->addrs[i], &a, sizeof(a)) != 0)
        continue;
      if (cap) {
        size_t len = strnlen(l->name, cap - 1);
        memcpy(name, l->name, len);
        name[len] = '\0';
      }
      hit->list_id = l->id;
      hit->index = i;
      hit->count = l->count;
      return 0;
    }
  }
  return -ENOENT;
}

void *xr_names_aux(size_t size, void (*fini)(void *))
{
  struct xr_names *n = xr_names_get();

  if (!n)
    return NULL;
  if (!n->aux) {
    n->aux = calloc(1, size);
    n->aux_fini = fini;
  }
  return n->aux;
}
