/* Host and service names to addresses, as the system resolves them
 * (getaddrinfo and getservbyname_r, so nsswitch.conf, /etc/hosts and
 * /etc/services decide), except "localhost", which is always the loopback
 * address and never leaves the machine. Blocks: worker threads call
 * resolve_run. No Lua here; failures are -errno or the codes below. */
#ifndef LUDS_RESOLVE_H
#define LUDS_RESOLVE_H

#include <stddef.h>

#include "addr.h"

enum {
  RESOLVE_NOT_FOUND = -5050,  /* no such host (EAI_NONAME, EAI_NODATA), or none of the family */
  RESOLVE_NO_SERVICE = -5051, /* no such service for the protocol (EAI_SERVICE) */
  RESOLVE_AGAIN = -5052,      /* a temporary failure (EAI_AGAIN): the DNS server did not answer */
  RESOLVE_FAIL = -5053,       /* a permanent failure of the name service (EAI_FAIL) */
};

#define RESOLVE_MAX 64 /* addresses kept of one answer */

typedef struct resolve_query {
  const addr_net *net; /* an IP network: its family and socket type */
  char host[ADDR_HOSTBUF];
  char port[ADDR_SERVBUF];
  addr *addrs; /* the answer (malloc'd), in the resolver's order */
  size_t n;
} resolve_query;

/* Fills q for an IP network from "host:port" text (with_port) or a bare
 * host (the port is then 0), checked as addr_split checks them. 0 or
 * -EINVAL with an addr_problem in *why. */
int resolve_prepare(resolve_query *q, const addr_net *net, const char *s, size_t len, int with_port,
                    int *why);
/* Whether resolve_run may block: a host name other than localhost, or a
 * service name, asks the name service. */
int resolve_blocks(const resolve_query *q);
/* Looks q up: its addresses, without duplicates, those of the network's
 * family only ("tcp": both, IPv4 first for localhost), at most RESOLVE_MAX.
 * 0 or a failure; q->addrs is then NULL. */
int resolve_run(resolve_query *q);
void resolve_clear(resolve_query *q);

#endif
