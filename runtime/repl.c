/* The REPL of the luds binary: lua.c's doREPL as a task. Standard input is
 * read through a luds.stdin() conn, so waiting for a line never stops the
 * loop, and each complete chunk runs as a task of its own, which may block
 * (c:read()) while the tasks of earlier lines keep being served. Output
 * follows lua.c: prompts always, results through print, errors with their
 * traceback and no program name. Only the public API is used here. */
#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

#include "luds.h"
#include "repl.h"

#define EOF_MARK "<eof>"
#define EOF_MARK_LEN (sizeof EOF_MARK - 1)

/* The REPL frame's stack: what lives across lines and yields. R_INPUT is
 * the stdin conn, or false where the loop cannot watch fd 0 (a regular file,
 * /dev/null): such input never blocks, so C stdio reads it. */
enum { R_LUDS = 1, R_INPUT, R_SOURCE, R_ERROR, R_BASE = R_ERROR };

/* repl_k's states; ST_EOF is a flag beside them: the input has ended. */
enum { ST_PROMPT, ST_MORE, ST_LINE, ST_MORE_LINE, ST_RAN, ST_END, ST_EOF = 16 };

/* What compile makes of a source. */
enum { C_CHUNK, C_INCOMPLETE, C_ERROR };

static void message(const char *msg) {
  fprintf(stderr, "%s\n", msg ? msg : "(error object is not a string)");
  fflush(stderr);
}

/* lua.c's msghandler: the message with a traceback, or what __tostring
 * makes of a non-string. */
static int msghandler(lua_State *L) {
  const char *msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
      return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

/* The end of a line's task: its results printed, or its error. The task
 * itself never fails, so the runtime does not report it a second time. */
static int line_done(lua_State *L, int status, lua_KContext ctx) {
  (void)ctx;
  if (status != LUA_OK && status != LUA_YIELD)
    return message(lua_tostring(L, -1)), 0;
  int n = lua_gettop(L) - 1; /* above the handler */
  if (n == 0)
    return 0;
  luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
  lua_getglobal(L, "print");
  lua_insert(L, 2);
  if (lua_pcall(L, n, 0, 0) != LUA_OK)
    message(lua_pushfstring(L, "error calling 'print' (%s)", lua_tostring(L, -1)));
  return 0;
}

/* The body of a line's task: (chunk) run under msghandler. */
static int line_run(lua_State *L) {
  lua_pushcfunction(L, msghandler);
  lua_insert(L, 1);
  return line_done(L, lua_pcallk(L, 0, LUA_MULTRET, 1, 0, line_done), 0);
}

static void prompt(lua_State *L, int first) {
  const char *p = first ? "> " : ">> ";
  if (lua_getglobal(L, first ? "_PROMPT" : "_PROMPT2") != LUA_TNIL)
    p = luaL_tolstring(L, -1, NULL);
  fputs(p, stdout);
  fflush(stdout);
  lua_settop(L, R_BASE);
}

/* Compiles the source on top, first as `return source;` on a first line:
 * pushes the chunk, or the error message. */
static int compile(lua_State *L, int first) {
  size_t n, len;
  const char *src = lua_tolstring(L, -1, &n);
  if (first) {
    const char *ret = lua_pushfstring(L, "return %s;", src);
    if (luaL_loadbuffer(L, ret, strlen(ret), "=stdin") == LUA_OK)
      return lua_remove(L, -2), C_CHUNK;
    lua_pop(L, 2);
  }
  int status = luaL_loadbuffer(L, src, n, "=stdin");
  if (status == LUA_OK)
    return C_CHUNK;
  const char *msg = lua_tolstring(L, -1, &len);
  return status == LUA_ERRSYNTAX && len >= EOF_MARK_LEN &&
                 strcmp(msg + len - EOF_MARK_LEN, EOF_MARK) == 0
             ? C_INCOMPLETE
             : C_ERROR;
}

static int repl_k(lua_State *L, int status, lua_KContext ctx);

/* Pushes the next line of C's stdin without its "\n", or nil at its end. */
static void read_stdio(lua_State *L) {
  luaL_Buffer b;
  int got = 0;
  luaL_buffinit(L, &b);
  for (;;) {
    char *p = luaL_prepbuffer(&b);
    if (!fgets(p, LUAL_BUFFERSIZE, stdin))
      break;
    size_t n = strlen(p);
    got = 1;
    if (n > 0 && p[n - 1] == '\n') {
      luaL_addsize(&b, n - 1);
      break;
    }
    luaL_addsize(&b, n);
  }
  luaL_pushresult(&b);
  if (!got) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* Pushes line | nil, msg, code (conn:read_line's results) and goes on at
 * state `next`, at once or after the read's yield. */
static void read_line(lua_State *L, lua_KContext next) {
  if (!lua_toboolean(L, R_INPUT)) {
    read_stdio(L);
    lua_pushliteral(L, "EOF");
    lua_pushliteral(L, "EOF");
    return;
  }
  lua_getfield(L, R_INPUT, "read_line");
  lua_pushvalue(L, R_INPUT);
  lua_callk(L, 1, 3, next, repl_k);
}

/* A line has come (at R_BASE + 1, or nil, msg, code): the next state. A
 * chunk to run is left on top for ST_RAN's caller. A read error (a line
 * over read_line's limit) raises: it ends the REPL and fails the main task. */
static int got_line(lua_State *L, int first, int *eof) {
  if (lua_isnil(L, R_BASE + 1)) {
    if (!lua_isnil(L, R_BASE + 3) && strcmp(lua_tostring(L, R_BASE + 3), "EOF") != 0) {
      lua_pushvalue(L, R_BASE + 2);
      lua_error(L);
    }
    if (!first)
      message(lua_tostring(L, R_ERROR)); /* the statement it left unfinished */
    *eof = ST_EOF;
    return first ? ST_END : ST_PROMPT;
  }
  lua_settop(L, R_BASE + 1);
  if (!first) {
    lua_pushvalue(L, R_SOURCE);
    lua_pushliteral(L, "\n");
    lua_rotate(L, R_BASE + 1, 2);
    lua_concat(L, 3);
  } else if (lua_tostring(L, -1)[0] == '=') { /* "=expr", as Lua 5.2 */
    lua_pushfstring(L, "return %s", lua_tostring(L, -1) + 1);
    lua_remove(L, -2);
  }
  int r = compile(L, first);
  if (r == C_CHUNK)
    return ST_RAN;
  if (r == C_ERROR)
    return message(lua_tostring(L, -1)), ST_PROMPT;
  lua_replace(L, R_ERROR);
  lua_replace(L, R_SOURCE);
  return ST_MORE;
}

/* The chunk on top as a task of its own; goes on at ST_RAN once it ended. */
static void run_chunk(lua_State *L, lua_KContext next) {
  lua_getfield(L, R_LUDS, "spawn");
  lua_pushcfunction(L, line_run);
  lua_rotate(L, -3, 2);
  lua_call(L, 2, 1);
  lua_getfield(L, -1, "wait");
  lua_insert(L, -2);
  lua_callk(L, 1, 0, next, repl_k);
}

static int finish(lua_State *L) {
  if (lua_toboolean(L, R_INPUT)) {
    lua_getfield(L, R_INPUT, "close");
    lua_pushvalue(L, R_INPUT);
    lua_call(L, 1, 0);
  }
  fputs("\n", stdout);
  fflush(stdout);
  return 0;
}

static int repl_k(lua_State *L, int status, lua_KContext ctx) {
  int eof = (int)ctx & ST_EOF, st = (int)ctx & ~ST_EOF;
  (void)status;
  for (;;) {
    switch (st) {
    case ST_PROMPT:
    case ST_MORE:
      lua_settop(L, R_BASE);
      prompt(L, st == ST_PROMPT);
      if (eof)
        return finish(L);
      st = st == ST_PROMPT ? ST_LINE : ST_MORE_LINE;
      read_line(L, st | eof);
      break;
    case ST_LINE:
    case ST_MORE_LINE:
      st = got_line(L, st == ST_LINE, &eof);
      if (st == ST_RAN)
        run_chunk(L, st | eof);
      break;
    case ST_RAN:
      st = ST_PROMPT;
      break;
    default:
      return finish(L);
    }
  }
}

int repl_run(lua_State *L) {
  lua_settop(L, 0);
  luaL_requiref(L, "luds", luaopen_luds, 0);
  lua_getfield(L, R_LUDS, "worker");
  lua_call(L, 0, 1);
  if (!lua_isnil(L, -1))
    return 0; /* a worker of luds.workers: the supervisor has the terminal */
  lua_getfield(L, R_LUDS, "stdin");
  lua_call(L, 0, 1);
  if (lua_isnil(L, -1))
    lua_pushboolean(L, 0);
  lua_replace(L, R_INPUT);
  lua_settop(L, R_BASE);
  return repl_k(L, LUA_OK, ST_PROMPT);
}
