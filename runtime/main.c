/* The luds binary: runs a Lua script as the first task of a fresh runtime,
 * with the command line of lua5.4 (script, -e, -, -v). As in lua.c, all work
 * happens in a protected pmain and the state is always closed, so leak
 * checkers see a clean heap. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luds.h"

static const char *progname = "luds";

static void usage(void) {
  fprintf(stderr,
          "usage: %s script [args]   run a Lua script\n"
          "       %s -e code [args]  run a string of Lua code\n"
          "       %s - [args]        run the script on standard input\n"
          "       %s test [paths]    run the *_spec.lua files (luds test -h)\n"
          "       %s -v              show the version\n",
          progname, progname, progname, progname, progname);
}

static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error object is not a string)");
  fflush(stderr);
  lua_pop(L, 1);
}

/* arg as lua.c builds it: arg[0] the script, negative indices before it. */
static void make_arg(lua_State *L, char **argv, int argc, int script) {
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

static int push_args(lua_State *L, char **argv, int argc, int first) {
  luaL_checkstack(L, argc - first + 1, "too many arguments");
  for (int i = first; i < argc; i++)
    lua_pushstring(L, argv[i]);
  return argc - first;
}

/* `luds test [args]`: the runner of the luds.test module. */
static const char test_main[] = "local luds = require 'luds'\n"
                                "luds.exit(require('luds.test').main({...}))";

/* Loads the main chunk named by argv[at] and its arguments; LUDS status. */
static int spawn_main(lua_State *L, char **argv, int argc, int at) {
  const char *what = argv[at];
  if (strcmp(what, "test") == 0) {
    if (luaL_loadbuffer(L, test_main, sizeof test_main - 1, "=luds test") != LUA_OK)
      return LUDS_ERROR;
    return luds_spawn(L, push_args(L, argv, argc, at + 1));
  }
  if (strcmp(what, "-e") == 0) {
    if (luaL_loadbuffer(L, argv[at + 1], strlen(argv[at + 1]), "=(command line)") != LUA_OK)
      return LUDS_ERROR;
    return luds_spawn(L, push_args(L, argv, argc, at + 2));
  }
  if (strcmp(what, "--") == 0)
    what = argv[++at];
  int n = push_args(L, argv, argc, at + 1);
  return luds_spawnfile(L, strcmp(what, "-") == 0 ? NULL : what, n);
}

static int pmain(lua_State *L) {
  int argc = (int)lua_tointeger(L, 1);
  char **argv = lua_touserdata(L, 2);
  int *code = lua_touserdata(L, 3);
  int at = 1;
  luaL_openlibs(L);
  if (luds_openlibs(L) != LUDS_OK)
    return report(L), 0;
  if (strcmp(argv[at], "-e") == 0) /* arg[0] is the code, as a script's name */
    make_arg(L, argv, argc, at + 1);
  else
    make_arg(L, argv, argc, at + (strcmp(argv[at], "--") == 0));
  if (spawn_main(L, argv, argc, at) != LUDS_OK)
    return report(L), 0;
  int status = luds_run(L, code);
  if (status == LUDS_ERROR)
    report(L); /* luds_run set *code: 2 for a deadlock, else 1 */
  return 0;
}

static int check_usage(int argc, char **argv) {
  if (argc < 2)
    return 0;
  const char *a = argv[1];
  if (strcmp(a, "-e") == 0)
    return argc >= 3;
  if (strcmp(a, "--") == 0)
    return argc >= 3;
  return a[0] != '-' || strcmp(a, "-") == 0;
}

int main(int argc, char **argv) {
  int code = 1;
  if (argv[0] && argv[0][0])
    progname = argv[0];
  if (argc == 2 && strcmp(argv[1], "-v") == 0) {
    printf("luds %s (%s)\n", LUDS_VERSION, LUA_RELEASE);
    return 0;
  }
  if (!check_usage(argc, argv)) {
    usage();
    return 1;
  }
  lua_State *L = luaL_newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushinteger(L, argc);
  lua_pushlightuserdata(L, argv);
  lua_pushlightuserdata(L, &code);
  if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
    report(L);
    code = 1;
  }
  lua_close(L);
  return code;
}
