/* Standalone checks for runtime/proxyproto.c: valid v1 and v2 headers of
 * every family, every prefix of each (incomplete, never refused), and each
 * way a header can be malformed, with its exact problem. Prints "N passed,
 * N failed". */
#include "proxyproto.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct tally {
  int passed, failed;
};

static struct tally t;

static void check(int ok, const char *what, int line) {
  if (ok) {
    t.passed++;
    return;
  }
  t.failed++;
  fprintf(stderr, "FAIL line %d: %s\n", line, what);
}

#define CHECK(cond) check((cond), #cond, __LINE__)

static void check_text(const addr *a, const char *want, int line) {
  char buf[ADDR_STRLEN];
  size_t n = addr_write(a, buf, sizeof buf);
  int ok = n == strlen(want) && memcmp(buf, want, n) == 0;
  if (!ok)
    fprintf(stderr, "FAIL line %d: address \"%.*s\", want \"%s\"\n", line, (int)n, buf, want);
  check(ok, "address text", line);
}

#define CHECK_ADDR(a, want) check_text((a), (want), __LINE__)

/* Parses what a header needs to be complete, one byte more at a time:
 * every proper prefix must ask for more, the whole must give its length. */
static ssize_t parse_all(const void *buf, size_t len, int mask, proxyproto_hdr *h, int line) {
  int why = 0;
  for (size_t k = 0; k < len; k++) {
    ssize_t r = proxyproto_parse(buf, k, mask, h, &why);
    if (r != 0) {
      fprintf(stderr, "FAIL line %d: prefix of %zu bytes gave %zd (%s)\n", line, k, r,
              proxyproto_text(why));
      check(0, "prefix asks for more", line);
      return r;
    }
  }
  return proxyproto_parse(buf, len, mask, h, &why);
}

/* The problem a (complete or partial) header is refused with, or 0. */
static int problem(const void *buf, size_t len, int mask) {
  proxyproto_hdr h;
  int why = 0;
  ssize_t r = proxyproto_parse(buf, len, mask, &h, &why);
  return r == -EINVAL ? why : 0;
}

#define BOTH (PROXYPROTO_V1 | PROXYPROTO_V2)
#define V1_PROBLEM(s) problem((s), strlen(s), BOTH)

static void v1_valid(void) {
  proxyproto_hdr h;
  const char *tcp4 = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
  size_t line = strlen("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
  CHECK(parse_all(tcp4, line, BOTH, &h, __LINE__) == (ssize_t)line);
  CHECK(proxyproto_parse(tcp4, strlen(tcp4), BOTH, &h, NULL) == (ssize_t)line);
  CHECK(h.version == 1 && h.command == PROXYPROTO_PROXY && h.family == AF_INET);
  CHECK(h.type == SOCK_STREAM && h.tlv_len == 0);
  CHECK_ADDR(&h.src, "192.168.0.1:56324");
  CHECK_ADDR(&h.dst, "192.168.0.11:443");

  const char *tcp6 = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
  CHECK(parse_all(tcp6, strlen(tcp6), BOTH, &h, __LINE__) == (ssize_t)strlen(tcp6));
  CHECK(h.family == AF_INET6);
  CHECK_ADDR(&h.src, "[2001:db8::1]:65535");
  CHECK_ADDR(&h.dst, "[::1]:0");

  const char *unknown = "PROXY UNKNOWN\r\n";
  CHECK(parse_all(unknown, 15, BOTH, &h, __LINE__) == 15);
  CHECK(h.version == 1 && h.family == AF_UNSPEC);

  /* The spec's worst case, 107 bytes: accepted; whatever follows UNKNOWN is ignored. */
  const char *worst = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                      "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  CHECK(strlen(worst) == PROXYPROTO_V1_MAX);
  CHECK(parse_all(worst, PROXYPROTO_V1_MAX, BOTH, &h, __LINE__) == PROXYPROTO_V1_MAX);
  const char *junk = "PROXY UNKNOWN  x\001y\r\n";
  CHECK(proxyproto_parse(junk, strlen(junk), BOTH, &h, NULL) == (ssize_t)strlen(junk));
  const char *wide = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
  CHECK(proxyproto_parse(wide, strlen(wide), BOTH, &h, NULL) == 104);
  CHECK(proxyproto_parse(wide, strlen(wide), PROXYPROTO_V1, &h, NULL) == 104);
}

static void v1_malformed(void) {
  CHECK(V1_PROBLEM("GET / HTTP/1.0\r\n") == PROXYPROTO_NOT_PROXY);
  CHECK(V1_PROBLEM("G") == PROXYPROTO_NOT_PROXY);
  CHECK(V1_PROBLEM("PUT / HTTP/1.0\r\n") == PROXYPROTO_SIGNATURE);
  CHECK(V1_PROBLEM("PROXY_TCP4") == PROXYPROTO_SIGNATURE);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n") == PROXYPROTO_V1_CRLF);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX") == PROXYPROTO_V1_CRLF);
  CHECK(V1_PROBLEM("PROXY UNKNOWN\n") == PROXYPROTO_V1_CRLF);
  CHECK(V1_PROBLEM("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n") == PROXYPROTO_V1_PROTOCOL);
  CHECK(V1_PROBLEM("PROXY UNKNOWNX\r\n") == PROXYPROTO_V1_PROTOCOL);
  CHECK(V1_PROBLEM("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n") == PROXYPROTO_V1_PROTOCOL);
  CHECK(V1_PROBLEM("PROXY \r\n") == PROXYPROTO_V1_PROTOCOL);
  CHECK(V1_PROBLEM("PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n") == PROXYPROTO_V1_ADDRESS);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n") == PROXYPROTO_V1_ADDRESS);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n") == PROXYPROTO_V1_ADDRESS);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 ::1 1 2\r\n") == PROXYPROTO_V1_ADDRESS);
  CHECK(V1_PROBLEM("PROXY TCP6 1.2.3.4 ::1 1 2\r\n") == PROXYPROTO_V1_ADDRESS);
  CHECK(V1_PROBLEM("PROXY TCP6 ::1%lo ::1 1 2\r\n") == PROXYPROTO_V1_ADDRESS);
  CHECK(problem("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n", 33, BOTH) == PROXYPROTO_V1_ADDRESS);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n") == PROXYPROTO_V1_PORT);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n") == PROXYPROTO_V1_PORT);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1 -2\r\n") == PROXYPROTO_V1_PORT);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1 +2\r\n") == PROXYPROTO_V1_PORT);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n") == PROXYPROTO_V1_SYNTAX);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n") == PROXYPROTO_V1_SYNTAX);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n") == PROXYPROTO_V1_SYNTAX);
  CHECK(V1_PROBLEM("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n") == PROXYPROTO_V1_SYNTAX);
  CHECK(V1_PROBLEM("PROXY TCP4\r\n") == PROXYPROTO_V1_SYNTAX);
  CHECK(problem("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32, PROXYPROTO_V2) == PROXYPROTO_VERSION_OFF);

  /* 107 bytes without a CRLF: too long; 106 may still end in time. */
  char line[200];
  memset(line, 'x', sizeof line);
  memcpy(line, "PROXY UNKNOWN ", 14);
  CHECK(problem(line, 106, BOTH) == 0);
  CHECK(problem(line, 107, BOTH) == PROXYPROTO_V1_TOO_LONG);
  CHECK(problem(line, 200, BOTH) == PROXYPROTO_V1_TOO_LONG);
  memcpy(line + 106, "\r\n", 2); /* a 108-byte line */
  CHECK(problem(line, 108, BOTH) == PROXYPROTO_V1_TOO_LONG);
  memcpy(line + 105, "\r\n", 2); /* 107 */
  CHECK(problem(line, 108, BOTH) == 0);
}

/* A v2 header: 16 bytes, then body (len bytes). */
static size_t v2(unsigned char *out, int ver_cmd, int fam, const void *body, size_t len) {
  memcpy(out, "\r\n\r\n\0\r\nQUIT\n", 12);
  out[12] = (unsigned char)ver_cmd;
  out[13] = (unsigned char)fam;
  out[14] = (unsigned char)(len >> 8);
  out[15] = (unsigned char)len;
  memcpy(out + 16, body, len);
  return 16 + len;
}

/* A table-driven CRC32C, independent of the parser's bitwise one. */
static uint32_t ref_crc32c(const unsigned char *p, size_t n) {
  static uint32_t table[256];
  if (!table[1])
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      table[i] = c;
    }
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++)
    crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

static const unsigned char inet4[12] = {1, 2, 3, 4, 10, 0, 0, 1, 0x16, 0x2e, 0, 80};

static void v2_inet(void) {
  unsigned char buf[256];
  proxyproto_hdr h;
  size_t n = v2(buf, 0x21, 0x11, inet4, 12);
  CHECK(parse_all(buf, n, BOTH, &h, __LINE__) == 28);
  CHECK(h.version == 2 && h.command == PROXYPROTO_PROXY && h.family == AF_INET);
  CHECK(h.type == SOCK_STREAM && h.tlv_len == 0 && h.need == 28);
  CHECK_ADDR(&h.src, "1.2.3.4:5678");
  CHECK_ADDR(&h.dst, "10.0.0.1:80");
  n = v2(buf, 0x21, 0x12, inet4, 12);
  CHECK(proxyproto_parse(buf, n, PROXYPROTO_V2, &h, NULL) == 28 && h.type == SOCK_DGRAM);
  CHECK(problem(buf, n, PROXYPROTO_V1) == PROXYPROTO_VERSION_OFF);

  unsigned char in6[36] = {0x20, 0x01, 0x0d, 0xb8};
  in6[15] = 1;
  in6[31] = 1;
  in6[32] = 0xff, in6[33] = 0xff, in6[35] = 1;
  n = v2(buf, 0x21, 0x21, in6, 36);
  CHECK(parse_all(buf, n, BOTH, &h, __LINE__) == 52 && h.family == AF_INET6);
  CHECK_ADDR(&h.src, "[2001:db8::1]:65535");
  CHECK_ADDR(&h.dst, "[::1]:1");
  CHECK(problem(buf, 16 + 35, BOTH) == 0); /* the length says more is coming */
  n = v2(buf, 0x21, 0x21, in6, 35);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_SHORT);
  n = v2(buf, 0x21, 0x11, inet4, 11);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_SHORT);
}

static void v2_unix(void) {
  unsigned char body[216 + 8], buf[256];
  proxyproto_hdr h;
  memset(body, 0, sizeof body);
  memcpy(body, "/run/client.sock", 16);
  memcpy(body + 109, "server", 6); /* abstract: a leading NUL */
  size_t n = v2(buf, 0x21, 0x31, body, 216);
  CHECK(parse_all(buf, n, BOTH, &h, __LINE__) == 232 && h.family == AF_UNIX);
  CHECK(h.type == SOCK_STREAM);
  CHECK_ADDR(&h.src, "/run/client.sock");
  CHECK_ADDR(&h.dst, "@server");
  memset(body, 0, 108);         /* unnamed */
  memset(body + 108, 'd', 108); /* a path that fills all 108 bytes */
  n = v2(buf, 0x21, 0x32, body, 216);
  CHECK(proxyproto_parse(buf, n, BOTH, &h, NULL) == 232 && h.type == SOCK_DGRAM);
  CHECK_ADDR(&h.src, "");
  char full[109];
  memset(full, 'd', 108);
  full[108] = '\0';
  CHECK_ADDR(&h.dst, full);
  n = v2(buf, 0x21, 0x31, body, 215);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_SHORT);
}

static void v2_local_unspec(void) {
  unsigned char buf[64];
  proxyproto_hdr h;
  size_t n = v2(buf, 0x20, 0x00, "", 0);
  CHECK(parse_all(buf, n, BOTH, &h, __LINE__) == 16);
  CHECK(h.command == PROXYPROTO_LOCAL && h.family == AF_UNSPEC);
  n = v2(buf, 0x20, 0xff, "junk!", 5); /* LOCAL: the family and block are ignored */
  CHECK(proxyproto_parse(buf, n, BOTH, &h, NULL) == 21 && h.family == AF_UNSPEC);
  n = v2(buf, 0x21, 0x00, inet4, 12); /* PROXY UNSPEC: the real endpoints */
  CHECK(proxyproto_parse(buf, n, BOTH, &h, NULL) == 28);
  CHECK(h.command == PROXYPROTO_PROXY && h.family == AF_UNSPEC && h.tlv_len == 0);
  n = v2(buf, 0x21, 0x10, inet4, 12);
  CHECK(proxyproto_parse(buf, n, BOTH, &h, NULL) == 28 && h.family == AF_UNSPEC);
}

static void v2_malformed(void) {
  unsigned char buf[64];
  size_t n = v2(buf, 0x11, 0x11, inet4, 12);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_VERSION);
  n = v2(buf, 0x22, 0x11, inet4, 12);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_COMMAND);
  n = v2(buf, 0x21, 0x41, inet4, 12);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_FAMILY);
  n = v2(buf, 0x21, 0x13, inet4, 12);
  CHECK(problem(buf, 16, BOTH) == PROXYPROTO_V2_FAMILY); /* refused before the block */
  CHECK(problem(buf, 14, BOTH) == PROXYPROTO_V2_FAMILY); /* and before the length */
  CHECK(problem("\r\n\r\n\0\r\nQUIT\n\x31", 13, BOTH) == PROXYPROTO_V2_VERSION);
  CHECK(problem("\r\n\r\n\0\r\nQUIT\n\x2f", 13, BOTH) == PROXYPROTO_V2_COMMAND);
  CHECK(problem("\r\n\r\n\0\r\nQUIT\n\x20\xff", 14, BOTH) == 0); /* LOCAL */
  buf[5] = 'X';
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_SIGNATURE);
  CHECK(problem(buf, 5, BOTH) == 0);
  CHECK(problem("\r\n\r\n\0\r\nQUIT\n", 12, BOTH) == 0);
  CHECK(problem("\r\n\r\n\0\r\nQUIT\r", 12, BOTH) == PROXYPROTO_SIGNATURE);
}

/* inet4, then the given TLV bytes; returns the header length. */
static size_t with_tlvs(unsigned char *buf, const void *tlvs, size_t len) {
  unsigned char body[12 + 70000];
  memcpy(body, inet4, 12);
  memcpy(body + 12, tlvs, len);
  return v2(buf, 0x21, 0x11, body, 12 + len);
}

static void v2_tlvs(void) {
  static unsigned char buf[16 + 12 + 70000];
  proxyproto_hdr h;
  const unsigned char tlvs[] = {0x01, 0, 2, 'h', '2', 0x02, 0, 3, 'a', '.', 'b', 0xe0, 0, 0};
  size_t n = with_tlvs(buf, tlvs, sizeof tlvs);
  CHECK(parse_all(buf, n, BOTH, &h, __LINE__) == (ssize_t)n);
  CHECK(h.tlv_off == 28 && h.tlv_len == sizeof tlvs);
  size_t off = 0, vlen;
  unsigned type;
  const unsigned char *v;
  CHECK(proxyproto_tlv(buf, &h, &off, &type, &v, &vlen) == 1);
  CHECK(type == 1 && vlen == 2 && memcmp(v, "h2", 2) == 0);
  CHECK(proxyproto_tlv(buf, &h, &off, &type, &v, &vlen) == 1);
  CHECK(type == 2 && vlen == 3 && memcmp(v, "a.b", 3) == 0);
  CHECK(proxyproto_tlv(buf, &h, &off, &type, &v, &vlen) == 1 && type == 0xe0 && vlen == 0);
  CHECK(proxyproto_tlv(buf, &h, &off, &type, &v, &vlen) == 0);

  n = with_tlvs(buf, tlvs, 4); /* the value is cut short */
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_TLV);
  n = with_tlvs(buf, tlvs, 7); /* two bytes left over: no room for a TLV */
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_TLV);
  const unsigned char overrun[] = {0x04, 0xff, 0xff, 0};
  n = with_tlvs(buf, overrun, sizeof overrun);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_TLV);

  /* The longest header: one NOOP TLV filling the 16-bit length. */
  static unsigned char big[65535];
  size_t vl = 65535 - 12 - 3;
  big[0] = 0x04, big[1] = (unsigned char)(vl >> 8), big[2] = (unsigned char)vl;
  n = with_tlvs(buf, big, 65535 - 12);
  CHECK(n == PROXYPROTO_V2_MAX);
  CHECK(proxyproto_parse(buf, n, BOTH, &h, NULL) == PROXYPROTO_V2_MAX);
  CHECK(proxyproto_parse(buf, n - 1, BOTH, &h, NULL) == 0 && h.need == PROXYPROTO_V2_MAX);
}

static void v2_crc(void) {
  unsigned char buf[64];
  proxyproto_hdr h;
  CHECK(ref_crc32c((const unsigned char *)"123456789", 9) == 0xE3069283u);
  const unsigned char tlvs[] = {0x01, 0, 2, 'h', '2', 0x03, 0, 4, 0, 0, 0, 0};
  size_t n = with_tlvs(buf, tlvs, sizeof tlvs);
  uint32_t crc = ref_crc32c(buf, n);
  buf[n - 4] = (unsigned char)(crc >> 24), buf[n - 3] = (unsigned char)(crc >> 16);
  buf[n - 2] = (unsigned char)(crc >> 8), buf[n - 1] = (unsigned char)crc;
  CHECK(proxyproto_parse(buf, n, BOTH, &h, NULL) == (ssize_t)n);
  buf[n - 1] ^= 1;
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_CRC);
  buf[n - 1] ^= 1;
  buf[16] ^= 1; /* the source address changed on the way */
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_CRC);
  const unsigned char short_crc[] = {0x03, 0, 3, 0, 0, 0};
  n = with_tlvs(buf, short_crc, sizeof short_crc);
  CHECK(problem(buf, n, BOTH) == PROXYPROTO_V2_TLV);
}

static void texts(void) {
  CHECK(strcmp(proxyproto_text(PROXYPROTO_NOT_PROXY), "not a PROXY protocol header") == 0);
  CHECK(strcmp(proxyproto_text(PROXYPROTO_V2_CRC), "PROXY v2 CRC32C checksum mismatch") == 0);
  CHECK(strcmp(proxyproto_text(999), "malformed PROXY protocol header") == 0);
  for (int w = PROXYPROTO_NOT_PROXY; w <= PROXYPROTO_V2_CRC; w++)
    CHECK(proxyproto_text(w) != NULL && strcmp(proxyproto_text(w), proxyproto_text(999)) != 0);
}

int main(void) {
  v1_valid();
  v1_malformed();
  v2_inet();
  v2_unix();
  v2_local_unspec();
  v2_malformed();
  v2_tlvs();
  v2_crc();
  texts();
  printf("%d passed, %d failed\n", t.passed, t.failed);
  return t.failed ? 1 : 0;
}
