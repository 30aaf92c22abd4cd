/* Address parsing and formatting for every network luds speaks. Unix paths
 * must fit sun_path with their terminating NUL; abstract names may hold any
 * byte; an IP address with a host or service name in it is checked and
 * told apart (ADDR_NAME), never looked up: parsing never blocks. */
#include "addr.h"

#include <arpa/inet.h>
#include <ctype.h>
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
int addr_port(const char *s, unsigned *port) {
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

/* A service name as /etc/services spells them: a letter, then letters,
 * digits, '-' and '_'. */
static int is_service(const char *s) {
  if (!isalpha((unsigned char)*s))
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
      return 0;
  return 1;
}

/* The port text p (n bytes) into port: a number or a service name. */
static int check_port(const char *p, size_t n, char port[ADDR_SERVBUF]) {
  unsigned number;
  if (n >= ADDR_SERVBUF)
    return -EINVAL;
  memcpy(port, p, n);
  port[n] = '\0';
  return addr_port(port, &number) == 0 || is_service(port) ? 0 : -EINVAL;
}

static int numeric(const char *host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A host name as Go's isDomainName takes one: labels of letters, digits,
 * '-' and '_', 63 bytes at most, none starting or ending with '-', joined
 * by dots (a final one allowed), 253 bytes at most, not all digits. */
static int is_domain(const char *h, size_t n) {
  if (n > 0 && h[n - 1] == '.')
    n--;
  if (n == 0 || n > ADDR_HOSTBUF - 3)
    return 0;
  size_t label = 0;
  int named = 0;
  char last = '.';
  for (size_t i = 0; i < n; last = h[i++]) {
    unsigned char c = (unsigned char)h[i];
    if (c == '.') {
      if (last == '.' || last == '-')
        return 0;
      label = 0;
      continue;
    }
    if (c == '-' && last == '.')
      return 0;
    if (!isalnum(c) && c != '-' && c != '_')
      return 0;
    named |= !isdigit(c);
    if (++label > 63)
      return 0;
  }
  return last != '-' && named;
}

/* The host text h (n bytes) into host: empty (any address), numeric, or,
 * outside brackets, a host name. */
static int check_host(const char *h, size_t n, int bracketed, char host[ADDR_HOSTBUF], int *why) {
  if (n >= ADDR_HOSTBUF || memchr(h, '\0', n))
    return invalid(why, ADDR_BAD_HOST);
  memcpy(host, h, n);
  host[n] = '\0';
  if (n == 0 || numeric(host) || (!bracketed && is_domain(host, n)))
    return 0;
  return invalid(why, ADDR_BAD_HOST);
}

int addr_split(const char *s, size_t len, char host[ADDR_HOSTBUF], char port[ADDR_SERVBUF],
               int *why) {
  const char *colon = memrchr(s, ':', len);
  if (!colon || s[len - 1] == ']')
    return invalid(why, ADDR_MISSING_PORT);
  const char *h = s;
  size_t hlen = (size_t)(colon - s);
  int bracketed = hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']';
  if (bracketed)
    h++, hlen -= 2;
  else if (memchr(s, ':', hlen))
    return invalid(why, ADDR_NEEDS_BRACKETS);
  size_t plen = (size_t)(s + len - colon) - 1;
  if (memchr(colon, '\0', plen + 1) || check_port(colon + 1, plen, port) < 0)
    return invalid(why, ADDR_BAD_PORT);
  return check_host(h, hlen, bracketed, host, why);
}

/* Outside brackets, a colon makes it an IPv6 address: no name has one. */
int addr_split_host(const char *s, size_t len, char host[ADDR_HOSTBUF], int *why) {
  int bracketed = len >= 2 && s[0] == '[' && s[len - 1] == ']';
  if (bracketed)
    return check_host(s + 1, len - 2, 1, host, why);
  return check_host(s, len, memchr(s, ':', len) != NULL, host, why);
}

int addr_is_name(const char *host) { return *host && !numeric(host); }

static int ip4(const char *host, unsigned port, addr *a) {
  struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  a->len = sizeof *in;
  return !*host || inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -EINVAL;
}

static int ip6(const char *host, unsigned port, addr *a) {
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons((uint16_t)port);
  a->len = sizeof *in6;
  return !*host || inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -EINVAL;
}

/* "tcp" and "udp" take either version: a colon says IPv6. */
int addr_ip(const addr_net *net, const char *host, unsigned port, addr *a, int *why) {
  memset(a, 0, sizeof *a);
  int v6 = net->family == AF_INET6 || (net->family == AF_UNSPEC && strchr(host, ':'));
  if ((v6 ? ip6 : ip4)(host, port, a) == 0)
    return 0;
  return invalid(why, numeric(host) ? ADDR_WRONG_FAMILY : ADDR_BAD_HOST);
}

static int parse_ip(const addr_net *net, const char *s, size_t len, addr *a, int *why) {
  char host[ADDR_HOSTBUF], port[ADDR_SERVBUF];
  unsigned number;
  int r = addr_split(s, len, host, port, why);
  if (r < 0)
    return r;
  if (addr_is_name(host) || addr_port(port, &number) < 0)
    return invalid(why, ADDR_NAME);
  return addr_ip(net, host, number, a, why);
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

size_t addr_write_ip(const addr *a, char *buf, size_t cap) {
  const void *ip = a->ss.ss_family == AF_INET
                       ? (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr
                       : (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
  buf[0] = '\0';
  if (a->ss.ss_family == AF_INET || a->ss.ss_family == AF_INET6)
    inet_ntop(a->ss.ss_family, ip, buf, (socklen_t)cap);
  return strlen(buf);
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
