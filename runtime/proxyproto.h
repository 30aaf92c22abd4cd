/* HAProxy's PROXY protocol, versions 1 (a text line) and 2 (binary): parsing
 * the header at the start of a byte buffer into the original addresses. No
 * I/O, no allocation, no Lua: the caller reads, this only judges bytes. */
#ifndef LUDS_PROXYPROTO_H
#define LUDS_PROXYPROTO_H

#include <stddef.h>
#include <sys/types.h>

#include "addr.h"

/* Versions a receiver accepts (a mask). */
#define PROXYPROTO_V1 1
#define PROXYPROTO_V2 2

#define PROXYPROTO_V1_MAX 107          /* the longest v1 line, CRLF included */
#define PROXYPROTO_V2_MAX (16 + 65535) /* the longest v2 header */

enum proxyproto_command { PROXYPROTO_LOCAL, PROXYPROTO_PROXY };

typedef struct proxyproto_hdr {
  int version;             /* 1 or 2 */
  int command;             /* PROXYPROTO_LOCAL (v2 health checks): use the real endpoints */
  int family;              /* AF_INET, AF_INET6, AF_UNIX; AF_UNSPEC: no addresses given
                              (v1 UNKNOWN, v2 LOCAL or UNSPEC): use the real endpoints */
  int type;                /* SOCK_STREAM or SOCK_DGRAM; 0 with AF_UNSPEC */
  addr src, dst;           /* the original client and destination */
  size_t tlv_off, tlv_len; /* v2 TLVs (checked) within the buffer; 0, 0: none */
  size_t need;             /* after a 0 return: the header's whole length once known */
} proxyproto_hdr;

enum proxyproto_problem {
  PROXYPROTO_NOT_PROXY = 1, /* neither signature: no PROXY header at all */
  PROXYPROTO_SIGNATURE,     /* starts like one, then differs */
  PROXYPROTO_VERSION_OFF,   /* a version the receiver does not accept */
  PROXYPROTO_V1_TOO_LONG,
  PROXYPROTO_V1_CRLF,     /* a lone CR or LF */
  PROXYPROTO_V1_PROTOCOL, /* neither TCP4, TCP6 nor UNKNOWN */
  PROXYPROTO_V1_ADDRESS,
  PROXYPROTO_V1_PORT,
  PROXYPROTO_V1_SYNTAX, /* spacing, missing or extra fields */
  PROXYPROTO_V2_VERSION,
  PROXYPROTO_V2_COMMAND,
  PROXYPROTO_V2_FAMILY, /* an unassigned family or transport */
  PROXYPROTO_V2_SHORT,  /* an address block shorter than its family's */
  PROXYPROTO_V2_TLV,    /* a TLV that overruns the header */
  PROXYPROTO_V2_CRC,    /* a CRC32C TLV that does not match */
};

/* Parses the header at the start of buf, of which len bytes have come,
 * accepting the versions in mask. Returns the header's length (> 0) when it
 * is complete and valid; 0 when what came is a valid beginning (h->need:
 * the whole length once it is known, else 0); -EINVAL when it can never be
 * a valid header, with a proxyproto_problem in *why. Bytes after the header
 * are not looked at. A v2 CRC32C TLV, when present, is verified. */
ssize_t proxyproto_parse(const void *buf, size_t len, int mask, proxyproto_hdr *h, int *why);
/* Lowercase text for a problem: "not a PROXY protocol header", ... */
const char *proxyproto_text(int why);

/* Steps through the TLVs of a parsed header: *off starts at 0; returns 1
 * with the next one's type and value, 0 after the last. */
int proxyproto_tlv(const void *buf, const proxyproto_hdr *h, size_t *off, unsigned *type,
                   const unsigned char **value, size_t *vlen);

#endif
