/* The PROXY protocol parser (HAProxy's doc/proxy-protocol.txt): the v1 text
 * line and the v2 binary header with its TLVs, judged strictly (exact
 * lengths, no leading zeros, CRLF only, CRC32C when sent), and incrementally:
 * a valid beginning asks for more bytes, anything else is refused at once. */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define V1_SIG "PROXY "
#define V2_SIG "\r\n\r\n\0\r\nQUIT\n"
#define V2_HEAD 16
#define TLV_CRC32C 0x03
#define UNIX_PATH 108 /* the v2 AF_UNIX address: a whole sun_path */

static ssize_t bad(int *why, int problem) {
  if (why)
    *why = problem;
  return -EINVAL;
}

/* The version the first bytes announce: 1 or 2, 0 while the signature is
 * incomplete, -problem when it cannot be one. */
static int detect(const unsigned char *p, size_t len) {
  if (len == 0)
    return 0;
  if (p[0] != 'P' && p[0] != '\r')
    return -PROXYPROTO_NOT_PROXY;
  const char *sig = p[0] == 'P' ? V1_SIG : V2_SIG;
  size_t n = p[0] == 'P' ? sizeof V1_SIG - 1 : sizeof V2_SIG - 1;
  size_t have = len < n ? len : n;
  if (memcmp(p, sig, have) != 0)
    return -PROXYPROTO_SIGNATURE;
  return have < n ? 0 : p[0] == 'P' ? 1 : 2;
}

/* The length of the v1 line with its CRLF, 0 while it has not ended, or
 * -problem. A CR must be followed by LF, and nothing else ends the line. */
static ssize_t v1_line(const unsigned char *p, size_t len) {
  size_t n = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '\n')
      return -PROXYPROTO_V1_CRLF;
    if (p[i] != '\r')
      continue;
    if (i + 2 > PROXYPROTO_V1_MAX)
      return -PROXYPROTO_V1_TOO_LONG;
    if (i + 1 == len)
      return 0;
    return p[i + 1] == '\n' ? (ssize_t)(i + 2) : -PROXYPROTO_V1_CRLF;
  }
  return len >= PROXYPROTO_V1_MAX ? -PROXYPROTO_V1_TOO_LONG : 0;
}

typedef struct span {
  const char *p;
  size_t n;
} span;

/* Splits [s, end) at single spaces into exactly n fields, none empty. */
static int split(const char *s, const char *end, span *f, int n) {
  for (int k = 0; k < n; k++) {
    const char *sp = memchr(s, ' ', (size_t)(end - s));
    const char *e = sp ? sp : end;
    if (e == s || (k < n - 1) != (sp != NULL))
      return -1;
    f[k] = (span){s, (size_t)(e - s)};
    s = e + 1;
  }
  return 0;
}

static int same(span f, const char *word) { return f.n == strlen(word) && !memcmp(f.p, word, f.n); }

/* A decimal port from 0 to 65535 without leading zeros. */
static int v1_port(span f, unsigned *port) {
  unsigned v = 0;
  if (f.n == 0 || f.n > 5 || (f.p[0] == '0' && f.n > 1))
    return -1;
  for (size_t i = 0; i < f.n; i++) {
    if (f.p[i] < '0' || f.p[i] > '9')
      return -1;
    v = v * 10 + (unsigned)(f.p[i] - '0');
  }
  *port = v;
  return v <= 65535 ? 0 : -1;
}

/* An IPv4 dotted quad (no leading zeros) or an IPv6 address, with its port. */
static int v1_addr(span f, int family, unsigned port, addr *a) {
  char text[INET6_ADDRSTRLEN];
  if (f.n >= sizeof text || memchr(f.p, '\0', f.n))
    return -1;
  memcpy(text, f.p, f.n);
  text[f.n] = '\0';
  memset(a, 0, sizeof *a);
  if (family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    a->len = sizeof *in6;
    return inet_pton(AF_INET6, text, &in6->sin6_addr) == 1 ? 0 : -1;
  }
  for (size_t i = 0; i + 1 < f.n; i++)
    if (text[i] == '0' && (i == 0 || text[i - 1] == '.') && text[i + 1] != '.')
      return -1;
  struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  a->len = sizeof *in;
  return inet_pton(AF_INET, text, &in->sin_addr) == 1 ? 0 : -1;
}

/* "TCP4 src dst sport dport" or "TCP6 ..." after "PROXY ". */
static ssize_t v1_tcp(const char *s, const char *end, int family, proxyproto_hdr *h, int *why) {
  span f[4];
  unsigned sport, dport;
  if (split(s, end, f, 4) < 0)
    return bad(why, PROXYPROTO_V1_SYNTAX);
  if (v1_port(f[2], &sport) < 0 || v1_port(f[3], &dport) < 0)
    return bad(why, PROXYPROTO_V1_PORT);
  if (v1_addr(f[0], family, sport, &h->src) < 0 || v1_addr(f[1], family, dport, &h->dst) < 0)
    return bad(why, PROXYPROTO_V1_ADDRESS);
  h->family = family;
  h->type = SOCK_STREAM;
  return 0;
}

static ssize_t v1_parse(const unsigned char *p, size_t len, proxyproto_hdr *h, int *why) {
  ssize_t n = v1_line(p, len);
  if (n <= 0)
    return n == 0 ? 0 : bad(why, (int)-n);
  const char *s = (const char *)p + sizeof V1_SIG - 1, *end = (const char *)p + n - 2;
  const char *sp = memchr(s, ' ', (size_t)(end - s));
  span proto = {s, (size_t)((sp ? sp : end) - s)};
  h->version = 1;
  h->command = PROXYPROTO_PROXY;
  if (same(proto, "UNKNOWN")) /* whatever follows is to be ignored */
    return n;
  int family = same(proto, "TCP4") ? AF_INET : same(proto, "TCP6") ? AF_INET6 : 0;
  if (!family)
    return bad(why, PROXYPROTO_V1_PROTOCOL);
  if (!sp)
    return bad(why, PROXYPROTO_V1_SYNTAX);
  ssize_t r = v1_tcp(sp + 1, end, family, h, why);
  return r < 0 ? r : n;
}

/* A 108-byte AF_UNIX address: a path up to its NUL (all 108 bytes when it
 * has none), an abstract name (a leading NUL; trailing NULs are padding),
 * or nothing at all (all zeros: an unnamed socket). */
static void v2_unix(const unsigned char *p, addr *a) {
  struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
  size_t base = offsetof(struct sockaddr_un, sun_path);
  memset(a, 0, sizeof *a);
  sun->sun_family = AF_UNIX;
  if (p[0]) {
    size_t n = strnlen((const char *)p, UNIX_PATH);
    memcpy(sun->sun_path, p, n);
    a->len = (socklen_t)(base + n + (n < UNIX_PATH));
    return;
  }
  size_t n = UNIX_PATH;
  while (n > 1 && p[n - 1] == 0)
    n--;
  memcpy(sun->sun_path, p, n);
  a->len = (socklen_t)(n > 1 ? base + n : sizeof(sa_family_t));
}

static void v2_inet(const unsigned char *p, size_t alen, int family, addr *src, addr *dst) {
  uint16_t sport, dport;
  memcpy(&sport, p + 2 * alen, 2); /* network order, as sin_port wants */
  memcpy(&dport, p + 2 * alen + 2, 2);
  memset(src, 0, sizeof *src);
  memset(dst, 0, sizeof *dst);
  if (family == AF_INET) {
    struct sockaddr_in *s = (struct sockaddr_in *)&src->ss, *d = (struct sockaddr_in *)&dst->ss;
    *s = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = sport};
    *d = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = dport};
    memcpy(&s->sin_addr, p, alen);
    memcpy(&d->sin_addr, p + alen, alen);
    src->len = dst->len = sizeof *s;
    return;
  }
  struct sockaddr_in6 *s = (struct sockaddr_in6 *)&src->ss, *d = (struct sockaddr_in6 *)&dst->ss;
  *s = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = sport};
  *d = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = dport};
  memcpy(&s->sin6_addr, p, alen);
  memcpy(&d->sin6_addr, p + alen, alen);
  src->len = dst->len = sizeof *s;
}

/* CRC32C (Castagnoli, RFC 4960 appendix B) of the header with the 4 bytes
 * at `hole` taken as zeros. Bitwise: a header is read once, at most 64 KiB. */
static uint32_t crc32c(const unsigned char *p, size_t n, size_t hole) {
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    crc ^= i - hole < 4 ? 0 : p[i];
    for (int k = 0; k < 8; k++)
      crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

/* Every TLV must fit the header exactly; a CRC32C one (4 bytes, at most
 * one) must match. */
static int v2_tlvs(const unsigned char *p, const proxyproto_hdr *h, size_t total) {
  size_t off = h->tlv_off, end = off + h->tlv_len, crc = 0;
  while (off < end) {
    if (end - off < 3)
      return PROXYPROTO_V2_TLV;
    size_t n = (size_t)p[off + 1] << 8 | p[off + 2];
    if (n > end - off - 3)
      return PROXYPROTO_V2_TLV;
    if (p[off] == TLV_CRC32C && (n != 4 || crc))
      return PROXYPROTO_V2_TLV;
    if (p[off] == TLV_CRC32C)
      crc = off + 3;
    off += 3 + n;
  }
  if (!crc)
    return 0;
  uint32_t want =
      (uint32_t)p[crc] << 24 | (uint32_t)p[crc + 1] << 16 | (uint32_t)p[crc + 2] << 8 | p[crc + 3];
  return crc32c(p, total, crc) == want ? 0 : PROXYPROTO_V2_CRC;
}

/* The version/command and family bytes, judged as soon as they come. */
static int v2_start(const unsigned char *p, size_t len) {
  int cmd = len > 12 ? p[12] & 0x0F : 0, fam = len > 13 ? p[13] >> 4 : 0;
  if (len > 12 && p[12] >> 4 != 2)
    return PROXYPROTO_V2_VERSION;
  if (cmd > PROXYPROTO_PROXY)
    return PROXYPROTO_V2_COMMAND;
  if (cmd == PROXYPROTO_PROXY && len > 13 && (fam > 3 || (p[13] & 0x0F) > 2))
    return PROXYPROTO_V2_FAMILY; /* LOCAL: the family is ignored */
  return 0;
}

/* The address block and TLVs of a complete PROXY command: 0 or a problem. */
static int v2_body(const unsigned char *p, size_t total, proxyproto_hdr *h) {
  static const size_t sizes[] = {0, 2 * 4 + 4, 2 * 16 + 4, 2 * UNIX_PATH};
  int fam = p[13] >> 4;
  if (total - V2_HEAD < sizes[fam])
    return PROXYPROTO_V2_SHORT;
  h->family = fam == 1 ? AF_INET : fam == 2 ? AF_INET6 : AF_UNIX;
  h->type = (p[13] & 0x0F) == 1 ? SOCK_STREAM : SOCK_DGRAM;
  if (fam == 3) {
    v2_unix(p + V2_HEAD, &h->src);
    v2_unix(p + V2_HEAD + UNIX_PATH, &h->dst);
  } else {
    v2_inet(p + V2_HEAD, fam == 1 ? 4 : 16, h->family, &h->src, &h->dst);
  }
  h->tlv_off = V2_HEAD + sizes[fam];
  h->tlv_len = total - h->tlv_off;
  return v2_tlvs(p, h, total);
}

static ssize_t v2_parse(const unsigned char *p, size_t len, proxyproto_hdr *h, int *why) {
  int r = v2_start(p, len);
  if (r || len < V2_HEAD)
    return r ? bad(why, r) : 0;
  size_t total = V2_HEAD + ((size_t)p[14] << 8 | p[15]);
  h->need = total;
  if (len < total)
    return 0;
  h->version = 2;
  h->command = p[12] & 0x0F;
  if (h->command == PROXYPROTO_LOCAL || (p[13] >> 4) == 0 || (p[13] & 0x0F) == 0)
    return (ssize_t)total; /* the real endpoints stand */
  r = v2_body(p, total, h);
  return r ? bad(why, r) : (ssize_t)total;
}

ssize_t proxyproto_parse(const void *buf, size_t len, int mask, proxyproto_hdr *h, int *why) {
  const unsigned char *p = buf;
  memset(h, 0, sizeof *h);
  h->family = AF_UNSPEC;
  int v = detect(p, len);
  if (v <= 0)
    return v == 0 ? 0 : bad(why, -v);
  if (!(mask & v))
    return bad(why, PROXYPROTO_VERSION_OFF);
  return v == 1 ? v1_parse(p, len, h, why) : v2_parse(p, len, h, why);
}

int proxyproto_tlv(const void *buf, const proxyproto_hdr *h, size_t *off, unsigned *type,
                   const unsigned char **value, size_t *vlen) {
  const unsigned char *p = (const unsigned char *)buf + h->tlv_off;
  if (*off + 3 > h->tlv_len)
    return 0;
  *type = p[*off];
  *vlen = (size_t)p[*off + 1] << 8 | p[*off + 2];
  *value = p + *off + 3;
  *off += 3 + *vlen;
  return 1;
}

const char *proxyproto_text(int why) {
  static const char *const texts[] = {
      [PROXYPROTO_NOT_PROXY] = "not a PROXY protocol header",
      [PROXYPROTO_SIGNATURE] = "bad PROXY protocol signature",
      [PROXYPROTO_VERSION_OFF] = "a PROXY protocol version this listener does not accept",
      [PROXYPROTO_V1_TOO_LONG] = "PROXY v1 line longer than 107 bytes",
      [PROXYPROTO_V1_CRLF] = "PROXY v1 line not ended by CRLF",
      [PROXYPROTO_V1_PROTOCOL] = "PROXY v1 protocol neither TCP4, TCP6 nor UNKNOWN",
      [PROXYPROTO_V1_ADDRESS] = "bad address in PROXY v1 line",
      [PROXYPROTO_V1_PORT] = "bad port in PROXY v1 line",
      [PROXYPROTO_V1_SYNTAX] = "malformed PROXY v1 line",
      [PROXYPROTO_V2_VERSION] = "bad PROXY v2 version",
      [PROXYPROTO_V2_COMMAND] = "unknown PROXY v2 command",
      [PROXYPROTO_V2_FAMILY] = "unknown PROXY v2 address family or transport",
      [PROXYPROTO_V2_SHORT] = "PROXY v2 address block too short for its family",
      [PROXYPROTO_V2_TLV] = "malformed PROXY v2 TLV",
      [PROXYPROTO_V2_CRC] = "PROXY v2 CRC32C checksum mismatch",
  };
  if (why <= 0 || why >= (int)(sizeof texts / sizeof texts[0]))
    return "malformed PROXY protocol header";
  return texts[why];
}
