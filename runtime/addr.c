/* Address parsing and formatting for every network luds speaks. Unix paths
 * must fit sun_path with their terminating NUL; abstract names may hold any
 * byte; IP hosts are numeric or "localhost", so parsing never blocks. */
#include "addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static const addr_net networks[] = {
    {"unix", AF_UNIX, SOCK_STREAM, 1},    {"unixpacket", AF_UNIX, SOCK_SEQPACKET, 1},
    {"unixgram", AF_UNIX, SOCK_DGRAM, 0}, {"tcp", AF_UNSPEC, SOCK_STREAM, 1},
    {"tcp4", AF_INET, SOCK_STREAM, 1},    {"tcp6", AF_INET6, SOCK_STREAM, 1},
    {"udp", AF_UNSPEC, SOCK_DGRAM, 0},    {"udp4", AF_INET, SOCK_DGRAM, 0},
    {"udp6", AF_INET6, SOCK_DGRAM, 0},
};

const addr_net *addr_network(const char *name) {
  for (size_t i = 0; i < sizeof networks / sizeof networks[0]; i++)
    if (strcmp(networks[i].name, name) == 0)
      return &networks[i];
  return NULL;
}

/* -EINVAL, with the reason in *why when the caller asked for one. */
static int invalid(int *why, int reason) {
  if (why)
    *why = reason;
  return -EINVAL;
}

static int parse_unix(const char *s, size_t len, addr *a, int *why) {
  struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
  size_t base = offsetof(struct sockaddr_un, sun_path);
  sun->sun_family = AF_UNIX;
  if (len == 0) { /* autobind: the kernel picks an abstract name */
    a->len = (socklen_t)sizeof(sa_family_t);
    return 0;
  }
  if (s[0] == '@') {
    if (len > sizeof sun->sun_path)
      return -ENAMETOOLONG;
    sun->sun_path[0] = '\0';
    memcpy(sun->sun_path + 1, s + 1, len - 1);
    a->len = (socklen_t)(base + len);
    return 0;
  }
  if (memchr(s, '\0', len))
    return invalid(why, ADDR_NUL);
  if (len >= sizeof sun->sun_path)
    return -ENAMETOOLONG;
  memcpy(sun->sun_path, s, len + 1);
  a->len = (socklen_t)(base + len + 1);
  return 0;
}

/* An empty port is port 0 (the kernel picks one), as in Go. */
static int parse_port(const char *s, unsigned *port) {
  char *end;
  if (!*s)
    return *port = 0, 0;
  if (*s < '0' || *s > '9')
    return -EINVAL;
  unsigned long p = strtoul(s, &end, 10);
  if (*end || p > 65535)
    return -EINVAL;
  *port = (unsigned)p;
  return 0;
}

/* Splits "host:port" or "[host]:port" into host (NUL-terminated) and port. */
static int split_hostport(const char *s, size_t len, char *host, size_t cap, unsigned *port,
                          int *why) {
  const char *colon = memrchr(s, ':', len);
  if (!colon || s[len - 1] == ']')
    return invalid(why, ADDR_MISSING_PORT);
  const char *h = s;
  size_t hlen = (size_t)(colon - s);
  if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']')
    h++, hlen -= 2;
  else if (memchr(s, ':', hlen))
    return invalid(why, ADDR_NEEDS_BRACKETS);
  if (memchr(colon, '\0', (size_t)(s + len - colon)) || parse_port(colon + 1, port) < 0)
    return invalid(why, ADDR_BAD_PORT);
  if (hlen >= cap || memchr(h, '\0', hlen))
    return invalid(why, ADDR_BAD_HOST);
  memcpy(host, h, hlen);
  host[hlen] = '\0';
  return 0;
}

static int ip4(const char *host, unsigned port, addr *a) {
  struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  a->len = sizeof *in;
  if (!*host)
    return 0;
  if (strcmp(host, "localhost") == 0)
    host = "127.0.0.1";
  return inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

static int ip6(const char *host, unsigned port, addr *a) {
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons((uint16_t)port);
  a->len = sizeof *in6;
  if (!*host)
    return 0;
  if (strcmp(host, "localhost") == 0)
    host = "::1";
  return inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

static int parse_ip(const addr_net *net, const char *s, size_t len, addr *a, int *why) {
  char host[INET6_ADDRSTRLEN + 8];
  unsigned port;
  int r = split_hostport(s, len, host, sizeof host, &port, why);
  if (r < 0)
    return r;
  if (net->family == AF_INET6)
    r = ip6(host, port, a);
  else if (net->family == AF_INET || !strchr(host, ':'))
    r = ip4(host, port, a);
  else
    r = ip6(host, port, a);
  return r < 0 ? invalid(why, ADDR_BAD_HOST) : 0;
}

int addr_parse(const addr_net *net, const char *s, size_t len, addr *a, int *why) {
  memset(a, 0, sizeof *a);
  if (net->family == AF_UNIX)
    return parse_unix(s, len, a, why);
  return parse_ip(net, s, len, a, why);
}

static size_t put(char *buf, size_t cap, const char *prefix, const char *s, size_t n) {
  size_t p = strlen(prefix) < cap - 1 ? strlen(prefix) : cap - 1;
  memcpy(buf, prefix, p);
  if (n > cap - 1 - p)
    n = cap - 1 - p;
  memcpy(buf + p, s, n);
  buf[p + n] = '\0';
  return p + n;
}

static size_t write_unix(const addr *a, char *buf, size_t cap) {
  const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
  size_t base = offsetof(struct sockaddr_un, sun_path);
  size_t n = a->len > base ? a->len - base : 0;
  if (n == 0)
    return put(buf, cap, "", "", 0);
  if (sun->sun_path[0] == '\0')
    return put(buf, cap, "@", sun->sun_path + 1, n - 1);
  return put(buf, cap, "", sun->sun_path, strnlen(sun->sun_path, n));
}

size_t addr_write(const addr *a, char *buf, size_t cap) {
  char host[INET6_ADDRSTRLEN];
  int family = a->len >= sizeof(sa_family_t) ? a->ss.ss_family : AF_UNSPEC;
  int n = 0;
  if (family == AF_INET) {
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a->ss;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    n = snprintf(buf, cap, "%s:%u", host, ntohs(in->sin_port));
  } else if (family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->ss;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    n = snprintf(buf, cap, "[%s]:%u", host, ntohs(in6->sin6_port));
  } else if (family == AF_UNIX) {
    return write_unix(a, buf, cap);
  } else {
    buf[0] = '\0';
  }
  return (size_t)n < cap ? (size_t)n : cap - 1;
}

char *addr_format(const addr *a, char *buf, size_t cap) {
  addr_write(a, buf, cap);
  return buf;
}

const char *addr_path(const addr *a) {
  const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
  size_t base = offsetof(struct sockaddr_un, sun_path);
  if (a->ss.ss_family != AF_UNIX || a->len <= base || sun->sun_path[0] == '\0')
    return NULL;
  return sun->sun_path;
}
