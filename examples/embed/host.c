/* A C program that embeds luds: it gives Lua one function of its own
 * (host.visit), runs echo.lua on the runtime, and drives luds from its own
 * poll() loop through the integration fd. SIGINT/SIGTERM are blocked here so
 * that luds receives them through that fd, closes its listeners (removing
 * their files) and reports LUDS_EXIT.
 *
 *   host SCRIPT SOCKET_PATH */
#include <lauxlib.h>
#include <luds.h>
#include <lualib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>

static int visits;

/* host.visit() -> the number of this visit, counted in C */
static int host_visit(lua_State *L) {
  lua_pushinteger(L, ++visits);
  return 1;
}

static void register_host(lua_State *L) {
  static const luaL_Reg funcs[] = {{"visit", host_visit}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  lua_setglobal(L, "host");
}

static int fail(lua_State *L, const char *what) {
  fprintf(stderr, "host: %s: %s\n", what, lua_tostring(L, -1));
  luds_close(L);
  return 1;
}

/* The host's own loop: poll luds's fd (a real host would add its own fds
 * here), then let luds run what is ready, until no task is left. */
static int drive(lua_State *L, int *code) {
  int status = LUDS_OK;
  while (status == LUDS_OK && luds_tasks(L) > 0) {
    struct pollfd p = {.fd = luds_fd(L), .events = POLLIN};
    if (poll(&p, 1, luds_timeout(L)) >= 0)
      status = luds_step(L, 0, code);
  }
  return status;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: host SCRIPT SOCKET_PATH\n");
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigprocmask(SIG_BLOCK, &sigs, NULL);
  lua_State *L = luds_newstate();
  luaL_openlibs(L);
  if (luds_openlibs(L) != LUDS_OK)
    return fail(L, "open");
  register_host(L);
  lua_pushstring(L, argv[2]);
  if (luds_spawnfile(L, argv[1], 1) != LUDS_OK)
    return fail(L, "load");
  int code = 0;
  if (drive(L, &code) == LUDS_ERROR)
    return fail(L, "run");
  printf("host: done after %d visits, exit code %d\n", visits, code);
  luds_close(L);
  return code;
}
