/* Networks and addresses: "unix" paths, "@abstract" names, "" for autobind,
 * "host:port" and "[v6]:port" for IP. Parsing never truncates and never
 * blocks: it takes numeric hosts and ports only, and tells a host or service
 * name apart for resolve.c to look up. No Lua here. */
#ifndef LUDS_ADDR_H
#define LUDS_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

enum addr_kind { ADDR_STREAM, ADDR_PACKET };

typedef struct addr_net {
  const char *name;
  int family;  /* AF_UNIX, AF_INET, AF_INET6 or AF_UNSPEC (either IP) */
  int type;    /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
  int listens; /* 1: luds.listen; 0: luds.listen_packet */
} addr_net;

typedef struct addr {
  struct sockaddr_storage ss;
  socklen_t len;
} addr;

/* The network called name, or NULL. */
const addr_net *addr_network(const char *name);

enum addr_problem {
  ADDR_MALFORMED,       /* no reason given */
  ADDR_NUL,             /* a NUL byte in a path */
  ADDR_MISSING_PORT,    /* "host", "host:", "[::1]" */
  ADDR_NEEDS_BRACKETS,  /* "::1:80" */
  ADDR_BAD_PORT,        /* not decimal digits, or above 65535 */
  ADDR_BAD_HOST,        /* neither a numeric address nor a host name */
  ADDR_WRONG_FAMILY,    /* a numeric address of the other IP version */
  ADDR_NAME,            /* well formed, but a host or service name: look it up */
};

/* Room for a host name (253 bytes at most, RFC 1035, plus a final dot) or
 * a service name (32 bytes at most here), with the NUL. */
#define ADDR_HOSTBUF 256
#define ADDR_SERVBUF 33

/* Parses s (len bytes, may hold NULs, and s[len] must be a NUL, as in a
 * Lua string) for net into a; 0 or -errno (-EINVAL: malformed, with an
 * addr_problem in *why when why is not NULL; -ENAMETOOLONG: path too long
 * for sun_path). */
int addr_parse(const addr_net *net, const char *s, size_t len, addr *a, int *why);
/* Splits "host:port" or "[host]:port" (len bytes, NUL-terminated after
 * them) into host and port text, both checked: the port is empty (0), a
 * decimal number up to 65535 or a service name ("http"); the host is empty,
 * a numeric address, or a host name. 0 or -EINVAL with an addr_problem. */
int addr_split(const char *s, size_t len, char host[ADDR_HOSTBUF], char port[ADDR_SERVBUF],
               int *why);
/* A bare host for resolve ("db.internal", "127.0.0.1", "::1", "[::1]"),
 * checked as addr_split checks one. */
int addr_split_host(const char *s, size_t len, char host[ADDR_HOSTBUF], int *why);
/* The port text as addr_split gives it, as a number: 0, or -EINVAL for a
 * service name. */
int addr_port(const char *text, unsigned *port);
/* Whether host (as addr_split gives it) is a name rather than numeric. */
int addr_is_name(const char *host);
/* The numeric host (or "" for any address) and port as an address of net;
 * 0 or -EINVAL (ADDR_BAD_HOST, ADDR_WRONG_FAMILY). */
int addr_ip(const addr_net *net, const char *host, unsigned port, addr *a, int *why);
/* Writes the text of a into buf (cap > 0), NUL-terminated and cut to fit:
 * a path, "@name" (with any NUL bytes the name holds), "" when unnamed,
 * "1.2.3.4:80", "[::1]:80". Returns its length. */
size_t addr_write(const addr *a, char *buf, size_t cap);
/* The IP address of a alone, without its port: "1.2.3.4", "::1". */
size_t addr_write_ip(const addr *a, char *buf, size_t cap);
/* addr_write for messages: returns buf, a C string (so an abstract name
 * ends at its first NUL). */
char *addr_format(const addr *a, char *buf, size_t cap);
/* The file-system path of a unix address, or NULL (abstract, unnamed, IP). */
const char *addr_path(const addr *a);

#define ADDR_STRLEN 112

#endif
