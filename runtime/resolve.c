/* Name resolution through the C library, so that a name resolves exactly as
 * every other program on the machine resolves it (nsswitch.conf: files,
 * dns, mdns, sss...). "localhost" is answered here, as RFC 6761 asks: its
 * addresses are the loopback ones whatever the files say, and a query for
 * it never reaches a DNS server (glibc asks DNS for localhost's IPv6
 * address when /etc/hosts lists only 127.0.0.1). */
#include "resolve.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int resolve_prepare(resolve_query *q, const addr_net *net, const char *s, size_t len, int with_port,
                    int *why) {
  addr a;
  memset(q, 0, sizeof *q);
  q->net = net;
  int r = with_port ? addr_split(s, len, q->host, q->port, why)
                    : addr_split_host(s, len, q->host, why);
  if (r == 0 && !with_port && !q->host[0]) /* a bare host cannot be "any address" */
    r = -EINVAL, *why = ADDR_BAD_HOST;
  if (r == 0 && !addr_is_name(q->host)) /* a numeric host of the other IP version */
    r = addr_ip(net, q->host, 0, &a, why);
  return r;
}

/* "localhost" and "localhost.", in any case. */
static int is_localhost(const char *host) {
  return strcasecmp(host, "localhost") == 0 || strcasecmp(host, "localhost.") == 0;
}

int resolve_blocks(const resolve_query *q) {
  unsigned port;
  return (addr_is_name(q->host) && !is_localhost(q->host)) || addr_port(q->port, &port) < 0;
}

static int from_eai(int e) {
  switch (e) {
  case EAI_NONAME:
  case EAI_NODATA:
  case EAI_ADDRFAMILY:
    return RESOLVE_NOT_FOUND;
  case EAI_SERVICE:
    return RESOLVE_NO_SERVICE;
  case EAI_AGAIN:
    return RESOLVE_AGAIN;
  case EAI_FAIL:
    return RESOLVE_FAIL;
  case EAI_MEMORY:
    return -ENOMEM;
  case EAI_SYSTEM:
    return errno ? -errno : -EIO;
  default:
    return -EINVAL;
  }
}

/* A service name's port for the network's protocol, from /etc/services or
 * whatever nsswitch.conf names for services. */
static int service_port(const resolve_query *q, unsigned *port) {
  const char *proto = q->net->type == SOCK_DGRAM ? "udp" : "tcp";
  size_t cap = 1024;
  for (;;) {
    char *buf = malloc(cap);
    struct servent se, *found = NULL;
    if (!buf)
      return -ENOMEM;
    int e = getservbyname_r(q->port, proto, &se, buf, cap, &found);
    if (found)
      *port = ntohs((uint16_t)se.s_port);
    free(buf);
    if (e == ERANGE && cap < 65536)
      cap *= 2;
    else if (e != EINTR)
      return found ? 0 : e && e != ENOENT ? -e : RESOLVE_NO_SERVICE;
  }
}

/* Appends a to the answer unless it is there already or the answer is full. */
static void add(resolve_query *q, const addr *a) {
  if (q->n == RESOLVE_MAX)
    return;
  for (size_t i = 0; i < q->n; i++)
    if (q->addrs[i].len == a->len && memcmp(&q->addrs[i].ss, &a->ss, a->len) == 0)
      return;
  q->addrs[q->n++] = *a;
}

static int answer_room(resolve_query *q, size_t n) {
  q->addrs = calloc(n, sizeof *q->addrs);
  return q->addrs ? 0 : -ENOMEM;
}

static void add_ip(resolve_query *q, const char *ip, unsigned port, int family) {
  static const addr_net v4 = {"", AF_INET, 0, 0}, v6 = {"", AF_INET6, 0, 0};
  addr a;
  if ((q->net->family == AF_UNSPEC || q->net->family == family) &&
      addr_ip(family == AF_INET ? &v4 : &v6, ip, port, &a, NULL) == 0)
    add(q, &a);
}

static int loopback(resolve_query *q, unsigned port) {
  if (answer_room(q, 2) < 0)
    return -ENOMEM;
  add_ip(q, "127.0.0.1", port, AF_INET);
  add_ip(q, "::1", port, AF_INET6);
  return 0;
}

/* Only AF_INET and AF_INET6 answers count, with the port set. No
 * AI_ADDRCONFIG: it drops every address on a machine whose only network
 * is loopback (as Go leaves it out on Linux). */
static int lookup(resolve_query *q, unsigned port) {
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = q->net->family;
  hints.ai_socktype = q->net->type;
  int e = getaddrinfo(q->host, NULL, &hints, &res);
  if (e != 0)
    return from_eai(e);
  size_t n = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    n++;
  int r = answer_room(q, n < RESOLVE_MAX ? n : RESOLVE_MAX);
  for (struct addrinfo *ai = res; r == 0 && ai; ai = ai->ai_next) {
    addr a = {.len = ai->ai_addrlen};
    if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof a.ss)
      continue;
    memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
    ((struct sockaddr_in *)&a.ss)->sin_port = htons((uint16_t)port); /* same place in both */
    add(q, &a);
  }
  freeaddrinfo(res);
  return r;
}

static int numeric(resolve_query *q, unsigned port) {
  int r = answer_room(q, 1);
  if (r == 0 && (r = addr_ip(q->net, q->host, port, &q->addrs[0], NULL)) == 0)
    q->n = 1;
  return r;
}

int resolve_run(resolve_query *q) {
  unsigned port;
  int r = addr_port(q->port, &port) == 0 ? 0 : service_port(q, &port);
  if (r == 0)
    r = is_localhost(q->host)     ? loopback(q, port)
        : addr_is_name(q->host) ? lookup(q, port)
                                : numeric(q, port);
  if (r == 0 && q->n == 0)
    r = RESOLVE_NOT_FOUND;
  if (r < 0)
    resolve_clear(q);
  return r;
}

void resolve_clear(resolve_query *q) {
  free(q->addrs);
  q->addrs = NULL;
  q->n = 0;
}
