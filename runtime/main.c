/* The luds binary: lua5.4's command line (lua.c's options, in lua.c's order)
 * on the luds runtime, plus `luds test`, -w and -h. LUA_INIT, each -e and -l,
 * the script and the REPL run one after the other inside one task, the main
 * task, so each may block; the first that fails ends the sequence. As in
 * lua.c, all work happens in a protected pmain and the state is always
 * closed, so leak checkers see a clean heap. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "luds.h"
#include "repl.h"

#define PROGNAME "luds"  /* the one prefix of every message, as the runtime's */
#define MAX_WORKERS 1024 /* what luds.workers accepts */

enum cli_flags { CLI_ERROR = 1, CLI_I = 2, CLI_V = 4, CLI_E = 8, CLI_NOENV = 16, CLI_HELP = 32 };
enum cli_why { WHY_UNRECOGNIZED, WHY_NEEDS_ARGUMENT, WHY_WORKERS };

/* The command line, parsed before any Lua runs, and where the main task is
 * in it. Lives in main's frame for the whole run. */
typedef struct cli {
  char **argv;
  int argc;
  int script;         /* argv index of the script; argc when there is none */
  int flags;          /* cli_flags */
  int bad;            /* with CLI_ERROR: the argv index of the faulty option */
  int why;            /* with CLI_ERROR: what is wrong with it */
  int next;           /* the main task's next step: see step() */
  int failed;         /* a chunk could not be loaded (no task failed for it) */
  const char *global; /* -l g=mod: the global that require's result goes to */
  size_t global_len;
} cli;

static void usage(FILE *to) {
  fprintf(to,
          "usage: %s [options] [script [args]]\n"
          "       %s test [options] [paths]  run *_spec.lua files (luds test -h)\n"
          "Available options are:\n"
          "  -e stat   execute string 'stat'\n"
          "  -i        enter interactive mode after executing 'script'\n"
          "  -l mod    require library 'mod' into global 'mod'\n"
          "  -l g=mod  require library 'mod' into global 'g'\n"
          "  -v        show version information\n"
          "  -E        ignore environment variables\n"
          "  -W        turn warnings on\n"
          "  -w n      run 'script' as n worker processes (sets LUDS_WORKERS)\n"
          "  -h        show this help and exit (also --help)\n"
          "  --        stop handling options\n"
          "  -         stop handling options and execute stdin\n",
          PROGNAME, PROGNAME);
}

static void bad_usage(const cli *c) {
  const char *opt = c->argv[c->bad];
  fprintf(stderr, "%s: ", PROGNAME);
  if (c->why == WHY_NEEDS_ARGUMENT)
    fprintf(stderr, "'%.2s' needs argument\n", opt);
  else if (c->why == WHY_WORKERS)
    fprintf(stderr, "'-w' needs a whole number from 1 to %d, not '%s'\n", MAX_WORKERS,
            opt[2] ? opt + 2 : c->argv[c->bad + 1]);
  else
    fprintf(stderr, "unrecognized option '%s'\n", opt);
  usage(stderr);
}

static void version(void) {
  printf("luds %s (%s)\n", LUDS_VERSION, LUA_RELEASE);
  fflush(stdout);
}

static void report(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "%s: %s\n", PROGNAME, msg ? msg : "(error object is not a string)");
  fflush(stderr);
  lua_pop(L, 1);
}

/* -w's count, or 0 when s is not a whole number from 1 to MAX_WORKERS. */
static int worker_count(const char *s) {
  char *end;
  long n = strtol(s, &end, 10);
  return s[0] >= '0' && s[0] <= '9' && *end == '\0' && n >= 1 && n <= MAX_WORKERS ? (int)n : 0;
}

/* An option that takes an argument (-e, -l, -w): 0 when it has one, else
 * CLI_ERROR. Moves *i past a separate argument; -w sets LUDS_WORKERS. */
static int option_argument(cli *c, int *i) {
  const char *opt = c->argv[*i], *value = opt + 2;
  if (*value == '\0') {
    value = c->argv[++*i];
    if (!value || value[0] == '-')
      return c->why = WHY_NEEDS_ARGUMENT, CLI_ERROR;
  }
  if (opt[1] != 'w')
    return 0;
  if (!worker_count(value))
    return c->why = WHY_WORKERS, CLI_ERROR;
  setenv("LUDS_WORKERS", value, 1); /* fails only without memory: luds.workers then counts CPUs */
  return 0;
}

/* The flags of one option at argv[*i] (moving *i past its argument), or
 * CLI_ERROR; 0 with c->script set where the options end. */
static int one_option(cli *c, int *i) {
  const char *a = c->argv[*i];
  int alone = a[1] && a[2] == '\0';
  switch (a[1]) {
  case '-':
    if (strcmp(a, "--help") == 0)
      return CLI_HELP;
    return alone ? (c->script = *i + 1, 0) : CLI_ERROR;
  case '\0': /* "-": the script is standard input */
    return c->script = *i, 0;
  case 'E':
    return alone ? CLI_NOENV : CLI_ERROR;
  case 'W':
    return alone ? 0 : CLI_ERROR;
  case 'h':
    return alone ? CLI_HELP : CLI_ERROR;
  case 'i':
    return alone ? CLI_I | CLI_V : CLI_ERROR; /* -i implies -v, as in lua.c */
  case 'v':
    return alone ? CLI_V : CLI_ERROR;
  case 'e':
    return option_argument(c, i) ? CLI_ERROR : CLI_E;
  case 'l':
  case 'w':
    return option_argument(c, i);
  default:
    return CLI_ERROR;
  }
}

/* lua.c's collectargs: the options up to the script (or "--", or "-"). */
static void collect(cli *c) {
  c->script = c->argc;
  for (int i = 1; i < c->argc; i++) {
    if (c->argv[i][0] != '-') {
      c->script = i;
      return;
    }
    c->bad = i;
    c->flags |= one_option(c, &i);
    if (c->flags & (CLI_ERROR | CLI_HELP) || c->script != c->argc)
      return;
  }
}

/* arg as lua.c builds it: arg[0] the script (the program when there is
 * none), its arguments from 1, what came before at negative indices. */
static void make_arg(lua_State *L, char **argv, int argc, int script) {
  if (script == argc)
    script = 0;
  lua_createtable(L, argc - script - 1, script + 1);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i - script);
  }
  lua_setglobal(L, "arg");
}

/* Pushes arg[1..#arg] as lua.c does: the table as it is when the script
 * starts (an -e may have changed it). */
static int push_script_args(lua_State *L) {
  if (lua_getglobal(L, "arg") != LUA_TTABLE)
    luaL_error(L, "'arg' is not a table");
  int n = (int)luaL_len(L, -1);
  luaL_checkstack(L, n + 3, "too many arguments to script");
  for (int i = 1; i <= n; i++)
    lua_rawgeti(L, -i, i);
  lua_remove(L, -n - 1);
  return n;
}

enum { STEP_DONE = -1, STEP_NOTHING = -2, STEP_LOAD_FAILED = -3 };

/* LUA_INIT_5_4, else LUA_INIT: a chunk, or "@file". */
static int step_init(lua_State *L) {
  const char *name = "=LUA_INIT_5_4", *init = getenv(name + 1);
  if (!init) {
    name = "=LUA_INIT";
    init = getenv(name + 1);
  }
  if (!init)
    return STEP_NOTHING;
  int r =
      init[0] == '@' ? luaL_loadfile(L, init + 1) : luaL_loadbuffer(L, init, strlen(init), name);
  return r == LUA_OK ? 0 : STEP_LOAD_FAILED;
}

/* The option at argv[at]: -e's chunk, -l's require (its global set by
 * finish_step), -W at once; nothing for the rest. */
static int step_option(lua_State *L, cli *c, int at) {
  const char *a = c->argv[at];
  const char *value = a[2] ? a + 2 : c->argv[at + 1];
  if (a[1] == 'W')
    lua_warning(L, "@on", 0);
  if (a[1] != 'e' && a[1] != 'l' && a[1] != 'w')
    return STEP_NOTHING;
  if (!a[2])
    c->next++; /* past the separate argument */
  if (a[1] == 'e')
    return luaL_loadbuffer(L, value, strlen(value), "=(command line)") == LUA_OK ? 0
                                                                                 : STEP_LOAD_FAILED;
  if (a[1] == 'w')
    return STEP_NOTHING;
  const char *eq = strchr(value, '=');
  c->global = value;
  c->global_len = eq ? (size_t)(eq - value) : strlen(value);
  lua_getglobal(L, "require");
  lua_pushstring(L, eq ? eq + 1 : value);
  return 1;
}

/* Code from standard input is running: luds.workers refuses to start
 * workers, which run the command line again, from it. */
static void mark_stdin(lua_State *L) {
  lua_pushboolean(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, "luds.stdin");
}

static int step_script(lua_State *L, cli *c) {
  const char *name = c->argv[c->script];
  if (strcmp(name, "-") == 0 && strcmp(c->argv[c->script - 1], "--") != 0) {
    name = NULL;
    mark_stdin(L);
  }
  if (luaL_loadfile(L, name) != LUA_OK)
    return STEP_LOAD_FAILED;
  return push_script_args(L);
}

/* After the script: -i's REPL; with no arguments at all the REPL on a
 * terminal (after the version), the script on standard input otherwise. */
static int step_last(lua_State *L, cli *c) {
  if (!(c->flags & CLI_I) && (c->script < c->argc || c->flags & (CLI_E | CLI_V)))
    return STEP_NOTHING;
  mark_stdin(L);
  if (c->flags & CLI_I || isatty(0)) {
    if (!(c->flags & CLI_V))
      version();
    lua_pushcfunction(L, repl_run);
    return 0;
  }
  return luaL_loadfile(L, NULL) == LUA_OK ? 0 : STEP_LOAD_FAILED;
}

/* Pushes what step `at` calls and returns its argument count, or a STEP_*:
 * 0 is LUA_INIT, 1 .. script-1 the options, then the script, then the last. */
static int step(lua_State *L, cli *c, int at) {
  if (at == 0)
    return c->flags & CLI_NOENV ? STEP_NOTHING : step_init(L);
  if (at < c->script)
    return step_option(L, c, at);
  if (at == c->script)
    return c->script < c->argc ? step_script(L, c) : STEP_NOTHING;
  if (at == c->script + 1)
    return step_last(L, c);
  return STEP_DONE;
}

/* -l g=mod: g = what require returned, on top (through any __newindex of
 * the globals, as lua_setglobal). */
static void finish_step(lua_State *L, cli *c) {
  if (!c->global)
    return;
  lua_pushglobaltable(L);
  lua_pushlstring(L, c->global, c->global_len);
  lua_pushvalue(L, -3);
  lua_settable(L, -3);
}

/* The main task, one step after another. A step's error ends the task, and
 * the runtime reports it with its traceback; a chunk that cannot be loaded
 * is reported here, as lua.c does, without one. */
static int main_k(lua_State *L, int status, lua_KContext ctx) {
  cli *c = (cli *)ctx;
  (void)status;
  for (;;) {
    finish_step(L, c);
    c->global = NULL;
    lua_settop(L, 0);
    int n = step(L, c, c->next++);
    if (n == STEP_DONE)
      return 0;
    if (n == STEP_LOAD_FAILED) {
      report(L);
      c->failed = 1;
      return 0;
    }
    if (n >= 0)
      lua_callk(L, n, c->global ? 1 : 0, ctx, main_k);
  }
}

static int main_task(lua_State *L) {
  return main_k(L, LUA_OK, (lua_KContext)lua_touserdata(L, lua_upvalueindex(1)));
}

/* `luds test [args]`: the runner of the luds.test module. */
static const char test_main[] = "local luds = require 'luds'\n"
                                "luds.exit(require('luds.test').main({...}))";

static int spawn_test(lua_State *L, cli *c) {
  if (luaL_loadbuffer(L, test_main, sizeof test_main - 1, "=luds test") != LUA_OK)
    return LUDS_ERROR;
  luaL_checkstack(L, c->argc, "too many arguments");
  for (int i = 2; i < c->argc; i++)
    lua_pushstring(L, c->argv[i]);
  return luds_spawn(L, c->argc - 2);
}

static int spawn_main(lua_State *L, cli *c) {
  if (c->argc >= 2 && strcmp(c->argv[1], "test") == 0) {
    make_arg(L, c->argv, c->argc, 1);
    return spawn_test(L, c);
  }
  make_arg(L, c->argv, c->argc, c->script);
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, main_task, 1);
  return luds_spawn(L, 0);
}

static int pmain(lua_State *L) {
  cli *c = lua_touserdata(L, 1);
  int *code = lua_touserdata(L, 2);
  if (c->flags & CLI_NOENV) { /* package.path and cpath ignore LUA_PATH... */
    lua_pushboolean(L, 1);
    lua_setfield(L, LUA_REGISTRYINDEX, "LUA_NOENV");
  }
  luaL_openlibs(L);
  if (luds_openlibs(L) != LUDS_OK || spawn_main(L, c) != LUDS_OK)
    return report(L), 0;
  int r = luds_run(L, code);
  if (r == LUDS_ERROR)
    report(L); /* luds_run set *code: 2 for a deadlock, else 1 */
  else if (r == LUDS_OK && c->failed)
    *code = 1; /* luds.exit's code stands */
  return 0;
}

int main(int argc, char **argv) {
  cli c = {.argv = argv, .argc = argc};
  int code = 1;
  if (argc < 2 || strcmp(argv[1], "test") != 0)
    collect(&c);
  if (c.flags & CLI_ERROR)
    return bad_usage(&c), 1;
  if (c.flags & CLI_HELP)
    return usage(stdout), 0;
  if (c.flags & CLI_V)
    version();
  lua_State *L = luds_newstate();
  if (!L) {
    fprintf(stderr, "%s: cannot create state: not enough memory\n", PROGNAME);
    return 1;
  }
  lua_pushcfunction(L, pmain);
  lua_pushlightuserdata(L, &c);
  lua_pushlightuserdata(L, &code);
  if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
    report(L);
    code = 1;
  }
  luds_close(L);
  return code;
}
