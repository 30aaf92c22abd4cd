/* PROXY protocol listeners and the headers their conns came with: the glue
 * between proxyproto.c (the parser) and the socket objects of lsock.c. */
#ifndef LUDS_LPROXY_H
#define LUDS_LPROXY_H

#include "lsock.h"

typedef struct lproxy_opts {
  int mask;       /* PROXYPROTO_V1 | PROXYPROTO_V2; 0: not a PROXY listener */
  double timeout; /* seconds a connection has to send its header */
} lproxy_opts;

/* Reads the options `proxy` and `proxy_timeout` of the table at opts (none
 * or nil: off) for a listener of net; raises for a bad value, for
 * proxy_timeout without proxy and for a network that is not a stream one. */
void lproxy_options(lua_State *L, int opts, const addr_net *net, lproxy_opts *o);
/* Makes ln, a new listener, read a header from each connection it accepts
 * (when o->mask is set); 0 or -ENOMEM. */
int lproxy_listen(lsock *ln, const lproxy_opts *o);
/* Starts reading the header of fd, just accepted by ln: on its own, off
 * any task, until it is complete (lproxy_take hands it out), invalid, or
 * late (closed and logged on stderr). Takes fd over in every case. */
void lproxy_start(lsock *ln, int fd);
/* Moves the oldest conn whose header is complete into c (a new closed
 * conn) and returns 1; 0 when there is none. Never runs Lua. */
int lproxy_take(lsock *ln, lsock *c);
/* Frees what lproxy owns in s: a listener's connections still reading
 * their header (closed), a conn's header. Idempotent; never runs Lua. */
void lproxy_free(lsock *s);
/* The remote (peer = 1) or local address of s, an open socket, into *a:
 * the original source or destination when a PROXY protocol header gave
 * them, else the socket's own (sock_name). 0 or -errno. */
int lproxy_name(const lsock *s, int peer, addr *a);
/* conn:proxied(): the header as a table, or false. */
int lproxy_proxied(lua_State *L);

#endif
