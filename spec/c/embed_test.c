/* The embedding API under misuse and failure: calls before luds_openlibs, a
 * missing script, a script that raises, luds.exit, a host that closes its
 * state while tasks still wait, and stepping from a host loop. Prints
 * "N passed, N failed"; meant to run under valgrind too. */
#include <lauxlib.h>
#include <luds.h>
#include <lualib.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed, failed;

static void check(int ok, const char *what) {
  if (ok)
    passed++;
  else
    failed++, fprintf(stderr, "FAIL: %s\n", what);
}

static int top_has(lua_State *L, const char *words) {
  const char *msg = lua_tostring(L, -1);
  return msg && strstr(msg, words) != NULL;
}

static lua_State *open_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  check(luds_openlibs(L) == LUDS_OK, "luds_openlibs succeeds");
  return L;
}

static int spawn_string(lua_State *L, const char *code) {
  if (luaL_loadstring(L, code) != LUA_OK)
    return LUDS_ERROR;
  return luds_spawn(L, 0);
}

static void test_before_open(void) {
  lua_State *L = luaL_newstate();
  int code = -1;
  check(luds_fd(L) == -1, "no fd before luds_openlibs");
  check(luds_run(L, &code) == LUDS_ERROR && top_has(L, "not opened"), "run before open");
  lua_pop(L, 1);
  lua_pushcfunction(L, luaopen_base);
  check(luds_spawn(L, 0) == LUDS_ERROR && top_has(L, "not opened"), "spawn before open");
  check(lua_gettop(L) == 1, "spawn before open pops the function");
  lua_close(L);
}

static void test_missing_script(void) {
  lua_State *L = open_state();
  lua_pushliteral(L, "an argument");
  check(luds_spawnfile(L, "/nonexistent/x.lua", 1) == LUDS_ERROR && top_has(L, "cannot open"),
        "missing script");
  check(lua_gettop(L) == 1, "missing script leaves only the message");
  lua_close(L);
}

static void test_raising_script(void) {
  lua_State *L = open_state();
  int code = -1;
  check(spawn_string(L, "error('boom')") == LUDS_OK, "spawn raising script");
  check(luds_run(L, &code) == LUDS_OK && code == 1, "a failed task makes the code 1");
  check(luds_failed(L) == 1 && luds_tasks(L) == 0, "failed count");
  lua_close(L);
}

static void test_exit(void) {
  lua_State *L = open_state();
  int code = -1;
  spawn_string(L, "require('luds').exit(7)");
  check(luds_run(L, &code) == LUDS_EXIT && code == 7, "luds.exit(7) reaches the host");
  lua_close(L);
}

/* A listener waits in accept when the host closes the state: the file goes. */
static void test_close_while_waiting(const char *dir) {
  char path[256], code[512];
  snprintf(path, sizeof path, "%s/wait.sock", dir);
  snprintf(code, sizeof code,
           "local luds = require 'luds'; local ln = assert(luds.listen('unix', '%s')); "
           "luds.spawn(function() luds.sleep(3600) end); ln:accept()",
           path);
  lua_State *L = open_state();
  check(spawn_string(L, code) == LUDS_OK, "spawn waiting script");
  check(luds_step(L, 0, NULL) == LUDS_OK && luds_tasks(L) == 2, "both tasks wait");
  struct stat st;
  check(stat(path, &st) == 0, "socket file exists while listening");
  lua_close(L);
  check(stat(path, &st) != 0, "closing the state removed the socket file");
}

/* Steps from a poll() loop until a 20 ms sleep ends. */
static void test_step_loop(void) {
  lua_State *L = open_state();
  spawn_string(L, "require('luds').sleep(0.02)");
  int rounds = 0;
  while (luds_tasks(L) > 0 && rounds++ < 1000) {
    struct pollfd p = {.fd = luds_fd(L), .events = POLLIN};
    poll(&p, 1, luds_timeout(L));
    check(luds_step(L, 0, NULL) == LUDS_OK, "step");
  }
  check(luds_tasks(L) == 0 && rounds < 1000, "sleep ended through the host loop");
  lua_close(L);
}

/* luds_newstate's state runs a server and its client like any other, and
 * luds_close closes it; luds_close of a luaL_newstate state is lua_close. */
static void test_newstate(const char *dir) {
  char code[512];
  snprintf(code, sizeof code,
           "local luds = require 'luds'; local ln = assert(luds.listen('unix', '%s/ns.sock')); "
           "luds.spawn(function() local c = ln:accept(); repeat local d = c:read() "
           "until not d or not c:write(d) end); local c = assert(luds.dial('unix', '%s/ns.sock')); "
           "local n = 0; for i = 1, 2000 do c:write(('%%d'):format(i)); n = n + #c:read() end; "
           "luds.exit(n == 6893 and 0 or 1)",
           dir, dir);
  lua_State *L = luds_newstate();
  check(L != NULL, "luds_newstate");
  luaL_openlibs(L);
  check(luds_openlibs(L) == LUDS_OK, "luds_openlibs on luds_newstate's state");
  int rc = -1;
  check(spawn_string(L, code) == LUDS_OK, "spawn echo script");
  check(luds_run(L, &rc) == LUDS_EXIT && rc == 0, "2,000 round trips on luds_newstate's state");
  luds_close(L);
  L = open_state();
  luds_close(L);
}

int main(void) {
  char dir[] = "/tmp/luds-embed-XXXXXX";
  if (!mkdtemp(dir))
    return perror("mkdtemp"), 1;
  test_before_open();
  test_missing_script();
  test_raising_script();
  test_exit();
  test_close_while_waiting(dir);
  test_step_loop();
  test_newstate(dir);
  rmdir(dir);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
