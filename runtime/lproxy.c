/* PROXY protocol listeners (luds.listen with `proxy`). Each accepted
 * connection reads its header in the background, from the loop's own
 * callbacks and off any task, so a client that sends nothing never holds up
 * accept; ln:accept() hands out only conns whose header came whole and
 * valid. The rest are closed at once (or after proxy_timeout) and logged.
 * Bytes that came after a header stay in the conn's read-ahead buffer. */
#include "lproxy.h"

#include <errno.h>
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lerror.h"
#include "proxyproto.h"
#include "sock.h"

#define TIMEOUT_DEFAULT 5.0 /* the spec asks for at least 3 s (a TCP retransmit) */
#define HEAD_BUF 512        /* a v1 line, or v2 with an AF_UNIX block and some TLVs */
#define LOGS_PER_SECOND 10  /* per listener; the rest are counted */

/* The header a conn came with (lsock.proxied). */
struct lproxy_hdr {
  int version, command;
  const addr_net *net; /* NULL: no addresses, the real endpoints stand */
  addr src, dst;
  size_t tlv_len;
  unsigned char tlv[]; /* the raw v2 TLVs, checked */
};

typedef struct pend pend;

/* A listener's state (lsock.proxy). */
struct lproxy_ln {
  lsock *ln;
  int mask;
  double timeout;
  pend *reading;            /* doubly linked: headers still to come */
  pend *ready, **ready_end; /* FIFO: complete, for accept */
  double log_since;         /* the current second of logging */
  int logged;
  unsigned long unlogged; /* refusals over the limit, not yet reported */
};

/* A connection reading its header. Its lsock holds the fd, the buffer and
 * any descriptors that came with the bytes, all moved into the conn that
 * accept returns; it is not a Lua object. */
struct pend {
  lsock s;
  loop_timer timer;
  struct lproxy_ln *pl;
  pend *prev, *next;
  struct lproxy_hdr *hdr; /* once complete */
  int dead;               /* closed in an I/O callback: freed by its timer */
};

/* The versions that option `proxy` asks for: true both, "v1" or "v2" one,
 * false or nil none; raises for anything else. */
static int proxy_mask(lua_State *L, int opts) {
  size_t len = 0;
  int t = lua_getfield(L, opts, "proxy");
  const char *v = t == LUA_TSTRING ? lua_tolstring(L, -1, &len) : "";
  int mask = lua_toboolean(L, -1) ? PROXYPROTO_V1 | PROXYPROTO_V2 : 0;
  if (len == 2 && (!strcmp(v, "v1") || !strcmp(v, "v2")))
    mask = v[1] == '1' ? PROXYPROTO_V1 : PROXYPROTO_V2;
  else if (t != LUA_TBOOLEAN && t != LUA_TNIL)
    luaL_error(L, "option 'proxy' must be true, \"v1\" or \"v2\"");
  lua_pop(L, 1);
  return mask;
}

void lproxy_options(lua_State *L, int opts, const addr_net *net, lproxy_opts *o) {
  o->mask = 0;
  o->timeout = TIMEOUT_DEFAULT;
  if (lua_isnoneornil(L, opts))
    return;
  o->mask = proxy_mask(L, opts);
  int timed = lua_getfield(L, opts, "proxy_timeout") != LUA_TNIL;
  lua_pop(L, 1);
  o->timeout = lsock_optnumber(L, opts, "proxy_timeout", TIMEOUT_DEFAULT);
  if (!(o->timeout > 0) || !isfinite(o->timeout))
    luaL_error(L, "option 'proxy_timeout' must be a number of seconds greater than 0");
  if (timed && !o->mask)
    luaL_error(L, "option 'proxy_timeout' needs option 'proxy'");
  if (o->mask && net->type != SOCK_STREAM)
    luaL_error(L, "option 'proxy' needs a stream network (unix, tcp, tcp4, tcp6), not %s",
               net->name);
}

int lproxy_listen(lsock *ln, const lproxy_opts *o) {
  if (!o->mask)
    return 0;
  struct lproxy_ln *pl = calloc(1, sizeof *pl);
  if (!pl)
    return -ENOMEM;
  pl->ln = ln;
  pl->mask = o->mask;
  pl->timeout = o->timeout;
  pl->ready_end = &pl->ready;
  ln->proxy = pl;
  return 0;
}

/* "tcp 127.0.0.1:80" for messages; unix listeners show their path. */
static void listener_text(const lsock *ln, char *buf, size_t cap) {
  addr a;
  char where[ADDR_STRLEN] = "";
  if (sock_name(ln->fd, 0, &a) == 0)
    addr_format(&a, where, sizeof where);
  snprintf(buf, cap, "%s %s", ln->net->name, where);
}

static void report_unlogged(struct lproxy_ln *pl) {
  char ln[ADDR_STRLEN + 16];
  if (!pl->unlogged)
    return;
  listener_text(pl->ln, ln, sizeof ln);
  fprintf(stderr,
          "luds: refused %lu more connections to %s (not logged: at most %d lines a second)\n",
          pl->unlogged, ln, LOGS_PER_SECOND);
  pl->unlogged = 0;
}

/* One line on stderr per refused connection, at most LOGS_PER_SECOND a
 * second per listener: a misconfigured balancer or a flood of bad clients
 * cannot fill the log, and the count of the rest comes with the next line
 * after the second is over (or when the listener closes). */
static void log_refusal(struct lproxy_ln *pl, int fd, const char *why) {
  double now = loop_now();
  if (now - pl->log_since >= 1) {
    report_unlogged(pl);
    pl->log_since = now;
    pl->logged = 0;
  }
  if (pl->logged++ >= LOGS_PER_SECOND) {
    pl->unlogged++;
    return;
  }
  char ln[ADDR_STRLEN + 16], peer[ADDR_STRLEN] = "";
  addr a;
  listener_text(pl->ln, ln, sizeof ln);
  if (sock_name(fd, 1, &a) == 0)
    addr_format(&a, peer, sizeof peer);
  fprintf(stderr, "luds: refused a connection to %s%s%s: %s\n", ln, peer[0] ? " from " : "", peer,
          why);
}

static void unlink_pend(pend *p) {
  if (p->prev)
    p->prev->next = p->next;
  else
    p->pl->reading = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
}

/* Closes what p holds; with the loop still there, it stops watching it. */
static void close_pend(pend *p) {
  runtime *rt = p->s.rt;
  if (!rt->closed) {
    loop_forget(&rt->lp, &p->s.io);
    loop_timer_stop(&rt->lp, &p->timer);
  }
  if (p->s.fd >= 0) {
    rt_own(rt, p->s.fd, 0);
    sock_close(p->s.fd);
    p->s.fd = p->s.io.fd = -1;
  }
  lfdpass_drop(&p->s);
  free(p->s.buf);
  free(p->hdr);
  p->s.buf = NULL;
  p->hdr = NULL;
}

static void free_pend(pend *p) {
  close_pend(p);
  free(p);
}

/* Refuses p: logged when why is not NULL, closed, and freed, but only by
 * its timer, due at once, when `deferred`: the loop still reads the I/O
 * record of a callback after it returns. */
static void refuse(pend *p, const char *why, int deferred) {
  if (why)
    log_refusal(p->pl, p->s.fd, why);
  close_pend(p);
  if (!deferred) {
    unlink_pend(p);
    free(p);
    return;
  }
  p->dead = 1;
  loop_timer_start(&p->s.rt->lp, &p->timer, 0);
}

static const addr_net *net_of(const proxyproto_hdr *h) {
  int dgram = h->type == SOCK_DGRAM;
  switch (h->family) {
  case AF_INET:
    return addr_network(dgram ? "udp4" : "tcp4");
  case AF_INET6:
    return addr_network(dgram ? "udp6" : "tcp6");
  case AF_UNIX:
    return addr_network(dgram ? "unixgram" : "unix");
  }
  return NULL;
}

/* Keeps the parsed header of p (its first n bytes) and takes those bytes
 * from the buffer; what follows stays there for the conn's first read. */
static int keep_header(pend *p, const proxyproto_hdr *h, size_t n) {
  struct lproxy_hdr *k = malloc(sizeof *k + h->tlv_len);
  if (!k)
    return -ENOMEM;
  k->version = h->version;
  k->command = h->command;
  k->net = h->command == PROXYPROTO_PROXY ? net_of(h) : NULL;
  k->src = h->src;
  k->dst = h->dst;
  k->tlv_len = h->tlv_len;
  memcpy(k->tlv, p->s.buf + h->tlv_off, h->tlv_len);
  p->hdr = k;
  lsock_consume(&p->s, n);
  if (p->s.blen == 0) { /* an idle conn keeps no buffer */
    free(p->s.buf);
    p->s.buf = NULL;
    p->s.bcap = 0;
  }
  return 0;
}

/* Room for `want` bytes in p's buffer. */
static int grow(lsock *s, size_t want) {
  if (want <= s->bcap)
    return 0;
  char *b = realloc(s->buf, want);
  if (!b)
    return -ENOMEM;
  s->buf = b;
  s->bcap = want;
  return 0;
}

static ssize_t fill(lsock *s) {
  size_t room = s->bcap - s->blen;
  ssize_t n =
      s->net->family == AF_UNIX ? lfdpass_fill(s, room) : sock_recv(s->fd, s->buf + s->blen, room);
  if (n > 0)
    s->blen += (size_t)n;
  return n;
}

enum { READ_WAIT, READ_DONE, READ_REFUSED };

/* Why reading a header ended early (n: what the read returned); NULL for
 * an end not worth a log line: the peer closed, or reset, before it sent a
 * byte, as a TCP health check does. */
static const char *read_problem(const lsock *s, ssize_t n) {
  if (n == -ENOMEM)
    return "not enough memory for its PROXY protocol header";
  if (s->blen == 0)
    return NULL;
  return n == 0 ? "connection closed in the middle of its PROXY protocol header"
                : lerror_text((int)n);
}

/* Reads and parses until the header is whole, refused (*why, see
 * read_problem) or has to wait. */
static int read_header(pend *p, const char **why) {
  lsock *s = &p->s;
  for (;;) {
    proxyproto_hdr h;
    int problem = 0;
    ssize_t n, r = proxyproto_parse(s->buf, s->blen, p->pl->mask, &h, &problem);
    if (r < 0)
      return *why = proxyproto_text(problem), READ_REFUSED;
    if (r > 0)
      n = keep_header(p, &h, (size_t)r);
    else if ((n = grow(s, h.need > HEAD_BUF ? h.need : HEAD_BUF)) == 0)
      n = fill(s);
    if (r > 0 && n == 0)
      return READ_DONE;
    if (n == -EAGAIN)
      return READ_WAIT;
    if (n <= 0)
      return *why = read_problem(s, n), READ_REFUSED;
  }
}

/* p's header is complete: it waits for accept, and a task in accept wakes. */
static void make_ready(pend *p) {
  struct lproxy_ln *pl = p->pl;
  runtime *rt = p->s.rt;
  loop_forget(&rt->lp, &p->s.io);
  loop_timer_stop(&rt->lp, &p->timer);
  unlink_pend(p);
  *pl->ready_end = p;
  pl->ready_end = &p->next;
  if (pl->ln->reader)
    task_wake(pl->ln->reader, WAKE_READY);
}

static unsigned on_readable(loop_io *io, unsigned events) {
  pend *p = (pend *)((char *)io - offsetof(pend, s.io));
  const char *why = NULL;
  (void)events;
  int r = read_header(p, &why);
  if (r == READ_DONE)
    make_ready(p);
  else if (r == READ_REFUSED)
    refuse(p, why, 1);
  return 0; /* still reading: keep watching; else loop_forget has cleared io */
}

static void on_late(loop_timer *t) {
  pend *p = (pend *)((char *)t - offsetof(pend, timer));
  char why[96];
  if (!p->dead) {
    snprintf(why, sizeof why, "%s PROXY protocol header within %g s",
             p->s.blen ? "no complete" : "no", p->pl->timeout);
    log_refusal(p->pl, p->s.fd, why);
  }
  unlink_pend(p);
  free_pend(p);
}

static pend *new_pend(struct lproxy_ln *pl, int fd) {
  pend *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->s.net = pl->ln->net;
  p->s.rt = pl->ln->rt;
  p->s.cls = LSOCK_CONN;
  p->s.io.fn = on_readable;
  p->timer.fn = on_late;
  p->pl = pl;
  lsock_attach(&p->s, fd);
  p->next = pl->reading;
  if (p->next)
    p->next->prev = p;
  pl->reading = p;
  return p;
}

void lproxy_start(lsock *ln, int fd) {
  struct lproxy_ln *pl = ln->proxy;
  loop *lp = &ln->rt->lp;
  pend *p = new_pend(pl, fd);
  if (!p) {
    log_refusal(pl, fd, "not enough memory for its PROXY protocol header");
    sock_close(fd);
    return;
  }
  if (ln->net->family != AF_UNIX)
    sock_nodelay(fd);
  const char *why = NULL;
  int r = read_header(p, &why);
  if (r == READ_WAIT &&
      (loop_timer_reserve(lp, lp->ntimers + 1) < 0 || loop_arm(lp, &p->s.io, LOOP_IN) < 0))
    r = READ_REFUSED, why = "no room to wait for its PROXY protocol header";
  if (r == READ_WAIT)
    loop_timer_start(lp, &p->timer, loop_now() + pl->timeout);
  else if (r == READ_DONE)
    make_ready(p);
  else
    refuse(p, why, 0);
}

/* Moves the fd, read-ahead bytes, held descriptors and header of p into c. */
int lproxy_take(lsock *ln, lsock *c) {
  struct lproxy_ln *pl = ln->proxy;
  pend *p = pl->ready;
  if (!p)
    return 0;
  pl->ready = p->next;
  if (!pl->ready)
    pl->ready_end = &pl->ready;
  c->fd = c->io.fd = p->s.fd;
  c->buf = p->s.buf;
  c->boff = p->s.boff;
  c->blen = p->s.blen;
  c->bcap = p->s.bcap;
  c->rpos = p->s.rpos;
  c->held = p->s.held;
  c->proxied = p->hdr;
  free(p);
  return 1;
}

static void free_listener(struct lproxy_ln *pl) {
  report_unlogged(pl);
  while (pl->reading) {
    pend *p = pl->reading;
    unlink_pend(p);
    free_pend(p);
  }
  while (pl->ready) {
    pend *p = pl->ready;
    pl->ready = p->next;
    free_pend(p);
  }
  free(pl);
}

void lproxy_free(lsock *s) {
  if (s->proxy)
    free_listener(s->proxy);
  free(s->proxied);
  s->proxy = NULL;
  s->proxied = NULL;
}

int lproxy_name(const lsock *s, int peer, addr *a) {
  if (!s->proxied || !s->proxied->net)
    return sock_name(s->fd, peer, a);
  *a = peer ? s->proxied->src : s->proxied->dst;
  return 0;
}

static void set_addr(lua_State *L, const char *key, const addr *a) {
  char buf[ADDR_STRLEN];
  lua_pushlstring(L, buf, addr_write(a, buf, sizeof buf));
  lua_setfield(L, -2, key);
}

/* conn:proxied() -> { version =, command =, net =, src =, dst =, tlvs = {
 * { type =, value = }, ... } } | false when the conn came without a header.
 * The header is copied before the first push: a finalizer that the pushes
 * run may close the conn, which frees it. */
int lproxy_proxied(lua_State *L) {
  lsock *s = lsock_self(L);
  if (s->fd < 0)
    return lsock_fail(L, s, "proxied", LERR_CLOSED);
  if (!s->proxied)
    return lua_pushboolean(L, 0), 1;
  struct lproxy_hdr h = *s->proxied;
  lua_pushlstring(L, (const char *)s->proxied->tlv, h.tlv_len); /* copied before any GC */
  const unsigned char *tlv = (const unsigned char *)lua_tostring(L, -1);
  lua_createtable(L, 0, 6);
  lua_pushinteger(L, h.version);
  lua_setfield(L, -2, "version");
  lua_pushstring(L, h.command == PROXYPROTO_PROXY ? "PROXY" : "LOCAL");
  lua_setfield(L, -2, "command");
  if (h.net) {
    lua_pushstring(L, h.net->name);
    lua_setfield(L, -2, "net");
    set_addr(L, "src", &h.src);
    set_addr(L, "dst", &h.dst);
  }
  lua_newtable(L);
  proxyproto_hdr at = {.tlv_len = h.tlv_len}; /* checked when parsed */
  size_t off = 0, n;
  unsigned type;
  const unsigned char *v;
  for (lua_Integer k = 1; proxyproto_tlv(tlv, &at, &off, &type, &v, &n); k++) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, type);
    lua_setfield(L, -2, "type");
    lua_pushlstring(L, (const char *)v, n);
    lua_setfield(L, -2, "value");
    lua_rawseti(L, -2, k);
  }
  lua_setfield(L, -2, "tlvs");
  return 1;
}
