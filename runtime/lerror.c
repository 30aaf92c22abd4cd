/* Names and messages for every error a script can see: errno values through
 * glibc's tables, luds's own conditions from the table below. Messages read
 * like Go's: "dial unix /run/x.sock: connection refused". */
#include "lerror.h"

#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

static const struct {
  int err;
  const char *name, *text;
} own[] = {
    {LERR_EOF, "EOF", "EOF"},
    {LERR_TIMEOUT, "TIMEOUT", "i/o timeout"},
    {LERR_CLOSED, "CLOSED", "use of closed connection"},
    {LERR_BUSY, "BUSY", "another task is already waiting on this socket"},
    {LERR_TRUNCATED, "TRUNCATED", "message truncated"},
    {LERR_UNKNOWN_USER, "UNKNOWN_USER", "unknown user"},
    {LERR_UNKNOWN_GROUP, "UNKNOWN_GROUP", "unknown group"},
    {LERR_UNEXPECTED_EOF, "EOF", "unexpected EOF"},
    {LERR_NUL_IN_PATH, "EINVAL", "path contains a NUL byte"},
    {LERR_NO_PORT, "EINVAL", "missing port in address (want host:port or [v6]:port)"},
    {LERR_V6_BRACKETS, "EINVAL", "missing brackets around IPv6 address (want [v6]:port)"},
    {LERR_BAD_PORT, "EINVAL", "invalid port (want 0 to 65535)"},
    {LERR_BAD_HOST, "EINVAL", "invalid host (want a host name or a numeric address)"},
    {LERR_WRONG_FAMILY, "EINVAL", "no suitable address found (not of the network's IP version)"},
    {LERR_NAME, "EINVAL",
     "host and service names are looked up by dial, listen and luds.resolve (want a numeric "
     "address and port)"},
    {LERR_NOT_FOUND, "ENOTFOUND", "no such host"},
    {LERR_UNKNOWN_PORT, "UNKNOWN_PORT", "unknown port"},
    {LERR_LOOKUP_AGAIN, "EAI_AGAIN", "temporary failure in name resolution"},
    {LERR_LOOKUP_FAIL, "EAI_FAIL", "non-recoverable failure in name resolution"},
    {LERR_REPLACED, "EEXIST", "socket file was replaced before its mode and owner were set"},
    {LERR_NO_SOCKET_FILE, "EINVAL",
     "mode, owner and group need a socket file: abstract, unnamed and IP addresses have none"},
    {LERR_WRITE_TO_CONNECTED, "EISCONN", "use of write_to with a connected socket (use write)"},
    {LERR_CLOSED_CHAN, "CLOSED", "use of closed channel"},
    {LERR_DEADLOCK, "DEADLOCK", "all tasks are asleep - deadlock!"},
    {LERR_NOT_POLLABLE, "EPERM",
     "descriptor cannot be polled (a regular file, a directory or a device such as /dev/null: "
     "use io.open)"},
    {LERR_SIGNALED, "SIGNALED", "killed by signal"},
    {LERR_PROCESS_DONE, "ESRCH", "process already finished"},
};

static int find_own(int err) {
  for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
    if (own[i].err == err)
      return (int)i;
  return -1;
}

const char *lerror_name(int err) {
  int i = find_own(err);
  if (i >= 0)
    return own[i].name;
  const char *name = strerrorname_np(-err);
  return name ? name : "EUNKNOWN";
}

const char *lerror_text(int err) {
  int i = find_own(err);
  if (i >= 0)
    return own[i].text;
  const char *text = strerrordesc_np(-err);
  return text ? text : "unknown error";
}

static void add_word(luaL_Buffer *b, const char *w, size_t len) {
  if (!w || !len)
    return;
  if (luaL_bufflen(b) > 0)
    luaL_addchar(b, ' ');
  luaL_addlstring(b, w, len);
}

/* An address in a message: its NUL bytes (abstract names, bad paths) as
 * "\0", so the message stays one readable C string. */
static void add_address(luaL_Buffer *b, const char *a, size_t len) {
  const char *nul;
  if (!a || !len)
    return;
  if (luaL_bufflen(b) > 0)
    luaL_addchar(b, ' ');
  while ((nul = memchr(a, '\0', len)) != NULL) {
    luaL_addlstring(b, a, (size_t)(nul - a));
    luaL_addstring(b, "\\0");
    len -= (size_t)(nul - a) + 1;
    a = nul + 1;
  }
  luaL_addlstring(b, a, len);
}

static size_t len_of(const char *s) { return s ? strlen(s) : 0; }

static int push(lua_State *L, const char *op, const char *net, const char *addr, size_t alen,
                int err) {
  luaL_Buffer b;
  const char *text = lerror_text(err);
  lua_pushnil(L);
  luaL_buffinit(L, &b);
  if (err != LERR_EOF) {
    add_word(&b, op, len_of(op));
    add_word(&b, net, len_of(net));
    add_address(&b, addr, alen);
    if (luaL_bufflen(&b) > 0)
      luaL_addstring(&b, ": ");
    luaL_addchar(&b, (char)tolower((unsigned char)text[0]));
    text++;
  }
  luaL_addstring(&b, text);
  luaL_pushresult(&b);
  lua_pushstring(L, lerror_name(err));
  return 3;
}

int lerror_push(lua_State *L, const char *op, const char *net, const char *addr, int err) {
  return push(L, op, net, addr, len_of(addr), err);
}

int lerror_push_at(lua_State *L, const char *op, const char *net, int i, int err) {
  size_t len;
  const char *addr = lua_tolstring(L, i, &len);
  return push(L, op, net, addr, len, err);
}
