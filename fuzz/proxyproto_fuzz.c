/* libFuzzer target for proxyproto.c. The first input byte picks the
 * versions accepted (1, 2 or both); the rest is what a client sent. Checked:
 * nothing is read past the bytes given (ASan, on an exact-size copy); a
 * complete header is no longer than the input and its addresses format
 * cleanly; bytes after a header do not change the verdict; a refusal has a
 * reason and is final (no prefix of what was not refused was refused); a
 * prefix of a complete header asks for more. `make fuzz-proxy` runs it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "proxyproto.h"

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "proxyproto_fuzz: check failed at line %d: %s\n", __LINE__, #cond);          \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

static ssize_t parse(const uint8_t *data, size_t len, int mask, proxyproto_hdr *h, int *why) {
  uint8_t *copy = malloc(len ? len : 1); /* exactly len bytes: a read past them is caught */
  CHECK(copy != NULL);
  memcpy(copy, data, len);
  *why = 0;
  ssize_t r = proxyproto_parse(copy, len, mask, h, why);
  if (r > 0) { /* the TLVs lie within the header and step to its end */
    size_t off = 0, vlen, seen = 0;
    unsigned type;
    const unsigned char *v;
    CHECK(h->tlv_off + h->tlv_len == (size_t)r || h->tlv_len == 0);
    while (proxyproto_tlv(copy, h, &off, &type, &v, &vlen))
      seen++;
    CHECK(off == h->tlv_len);
    CHECK(seen <= h->tlv_len / 3);
  }
  free(copy);
  return r;
}

static void check_addr(const addr *a) {
  char buf[ADDR_STRLEN];
  CHECK(a->len > 0 && a->len <= sizeof a->ss);
  CHECK(addr_write(a, buf, sizeof buf) < sizeof buf);
}

static void check_header(const proxyproto_hdr *h, size_t n) {
  CHECK(h->version == 1 || h->version == 2);
  CHECK(n <= (h->version == 1 ? PROXYPROTO_V1_MAX : PROXYPROTO_V2_MAX));
  if (h->family == AF_UNSPEC)
    return;
  CHECK(h->family == AF_INET || h->family == AF_INET6 || h->family == AF_UNIX);
  CHECK(h->command == PROXYPROTO_PROXY);
  CHECK(h->src.ss.ss_family == h->family && h->dst.ss.ss_family == h->family);
  check_addr(&h->src);
  check_addr(&h->dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether a prefix of k bytes is worth parsing again: all of them for a
 * short input, a sample (the signature's edges among them) otherwise. */
static int sampled(size_t k, size_t n) { return n <= 256 || k < 20 || k + 20 > n || k % 97 == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  int mask = data[0] % 3 + 1;
  data++, size--;
  proxyproto_hdr h, again;
  int why, why2;
  ssize_t r = parse(data, size, mask, &h, &why);
  CHECK(r == 0 || r == -EINVAL || (r > 0 && (size_t)r <= size));
  if (r == -EINVAL) {
    CHECK(why >= PROXYPROTO_NOT_PROXY && why <= PROXYPROTO_V2_CRC);
    return 0;
  }
  /* Not refused: then no prefix was (a refusal is final), and every prefix
   * short of a whole header asks for more. */
  size_t whole = r > 0 ? (size_t)r : size;
  for (size_t k = 0; k < whole; k++)
    if (sampled(k, whole))
      CHECK(parse(data, k, mask, &again, &why2) == 0);
  if (r == 0) {
    CHECK(h.need == 0 || h.need > size);
    return 0;
  }
  check_header(&h, (size_t)r);
  CHECK(parse(data, (size_t)r, mask, &again, &why2) == r); /* what follows is not looked at */
  CHECK(memcmp(&again, &h, sizeof h) == 0);
  return 0;
}
