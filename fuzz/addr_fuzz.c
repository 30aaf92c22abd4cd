/* libFuzzer target for addr.c. The first input byte picks a network (and,
 * with its top bit set, a raw sockaddr instead of a string); the rest is the
 * address, NUL bytes and all. Checked: nothing overruns (ASan); what parses
 * is a sockaddr the kernel accepts, with the port its text says; it formats
 * back to the same text (unix) or to text that parses to the same sockaddr
 * (IP); and addr_format truncates cleanly into any buffer size.
 * Build and run with `make fuzz`. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"

static const char *const networks[] = {"unix", "unixpacket", "unixgram", "tcp", "tcp4",
                                       "tcp6", "udp",        "udp4",     "udp6"};
#define NNETWORKS (sizeof networks / sizeof networks[0])

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "addr_fuzz: check failed at line %d: %s\n", __LINE__, #cond);                \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

/* Formats a into a heap buffer of exactly cap bytes, so that writing one
 * byte too many is an ASan report; the result must be NUL-terminated. */
static char *format_exact(const addr *a, size_t cap) {
  char *buf = malloc(cap);
  CHECK(buf != NULL);
  memset(buf, 'X', cap);
  CHECK(addr_format(a, buf, cap) == buf);
  CHECK(memchr(buf, '\0', cap) != NULL);
  return buf;
}

/* Every smaller buffer gets a prefix of the full text, cut at cap - 1. */
static void check_truncation(const addr *a, const char *full) {
  size_t len = strlen(full);
  for (size_t cap = 1; cap <= len + 1; cap++) {
    char *part = format_exact(a, cap);
    size_t want = len < cap - 1 ? len : cap - 1;
    CHECK(strlen(part) == want);
    CHECK(memcmp(part, full, want) == 0);
    free(part);
  }
}

static void check_unix(const char *s, size_t len, const addr *a, const char *text) {
  const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->ss;
  const char *path = addr_path(a);
  /* What the kernel accepts: the family's own size at most, and a path
   * with its terminating NUL inside sun_path. */
  CHECK(a->ss.ss_family == AF_UNIX);
  CHECK(a->len >= sizeof(sa_family_t) && a->len <= sizeof(struct sockaddr_un));
  if (path)
    CHECK(memchr(sun->sun_path, '\0', sizeof sun->sun_path) != NULL);
  if (len == 0) { /* autobind */
    CHECK(text[0] == '\0');
    CHECK(path == NULL);
  } else if (s[0] == '@') {
    CHECK(path == NULL);
    char whole[ADDR_STRLEN]; /* NUL bytes and all; text ends at the first */
    CHECK(addr_write(a, whole, sizeof whole) == len && memcmp(whole, s, len) == 0);
    CHECK(strlen(text) == strnlen(s, len) && memcmp(text, s, strlen(text)) == 0);
  } else {
    CHECK(path != NULL && strlen(path) == len && memcmp(path, s, len) == 0);
    CHECK(strlen(text) == len && memcmp(text, s, len) == 0);
  }
}

/* The port a parsed IP address holds must be what its text says: decimal
 * digits after the last ':', at most 65535, or none (port 0, as in Go). */
static void check_port(const char *s, size_t len, const addr *a) {
  const char *colon = memrchr(s, ':', len);
  CHECK(colon != NULL);
  unsigned long v = 0;
  for (const char *p = colon + 1; p < s + len; p++) {
    CHECK(*p >= '0' && *p <= '9');
    v = v > 65535 ? v : v * 10 + (unsigned long)(*p - '0');
  }
  in_port_t port = a->ss.ss_family == AF_INET ? ((const struct sockaddr_in *)&a->ss)->sin_port
                                              : ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
  CHECK(v <= 65535 && v == ntohs(port));
}

static void check_ip(const addr_net *net, const addr *a, const char *text) {
  addr again;
  CHECK(addr_path(a) == NULL);
  if (a->ss.ss_family == AF_INET)
    CHECK(net->family != AF_INET6 && a->len == sizeof(struct sockaddr_in));
  else
    CHECK(a->ss.ss_family == AF_INET6 && net->family != AF_INET &&
          a->len == sizeof(struct sockaddr_in6));
  CHECK(addr_parse(net, text, strlen(text), &again, NULL) == 0);
  CHECK(again.len == a->len);
  CHECK(memcmp(&again.ss, &a->ss, sizeof a->ss) == 0);
}

static void fuzz_parse(const addr_net *net, const char *s, size_t len) {
  addr a;
  memset(&a, 0xA5, sizeof a); /* addr_parse must set every byte it relies on */
  int why = -1;
  int r = addr_parse(net, s, len, &a, &why);
  if (r != 0) {
    CHECK(r < 0);
    CHECK(r != -EINVAL || (why > ADDR_MALFORMED && why <= ADDR_NAME)); /* a reason */
    return;
  }
  CHECK(a.len > 0 && a.len <= sizeof a.ss);
  char *text = format_exact(&a, ADDR_STRLEN);
  if (net->family == AF_UNIX) {
    check_unix(s, len, &a, text);
  } else {
    check_port(s, len, &a);
    check_ip(net, &a, text);
  }
  check_truncation(&a, text);
  free(text);
}

/* A sockaddr as a kernel might return it: any family, any length up to the
 * storage, any bytes. Formatting it must stay in bounds. */
static void fuzz_format(const uint8_t *data, size_t size) {
  addr a;
  memset(&a, 0, sizeof a);
  if (size < 3)
    return;
  static const sa_family_t families[] = {AF_UNIX, AF_INET, AF_INET6, AF_UNSPEC};
  size_t n = size - 2 < sizeof a.ss ? size - 2 : sizeof a.ss;
  memcpy(&a.ss, data + 2, n);
  a.ss.ss_family = families[data[0] % 4];
  a.len = (socklen_t)(data[1] % (sizeof a.ss + 1));
  char *text = format_exact(&a, ADDR_STRLEN);
  check_truncation(&a, text);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  if (data[0] & 0x80) {
    fuzz_format(data + 1, size - 1);
    return 0;
  }
  const addr_net *net = addr_network(networks[data[0] % NNETWORKS]);
  CHECK(net != NULL);
  /* A copy of the address bytes plus the '\0' that follows every Lua
   * string (the bindings pass lua_tolstring's buffer, and addr.c relies on
   * it: strtoul on the port, the path copied with its terminator). A read
   * past that byte is caught. */
  size_t len = size - 1;
  char *s = malloc(len + 1);
  CHECK(s != NULL);
  memcpy(s, data + 1, len);
  s[len] = '\0';
  fuzz_parse(net, s, len);
  free(s);
  return 0;
}
