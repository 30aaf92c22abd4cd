/* Standalone checks for runtime/mempool.c: reuse within a class, bytes
 * kept across every kind of resize, the limit on what the free lists hold,
 * and a Lua state living on it. Prints "N passed, N failed"; meant to run
 * under valgrind too (the pool's own blocks all go back to malloc). */
#include "mempool.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *what, int line) {
  if (ok)
    passed++;
  else
    failed++, fprintf(stderr, "FAIL line %d: %s\n", line, what);
}

#define CHECK(cond) check((cond), #cond, __LINE__)

static mempool fresh(size_t limit) {
  mempool p;
  memset(&p, 0, sizeof p);
  p.limit = limit;
  return p;
}

static void *grab(mempool *p, size_t n) { return mempool_alloc(p, NULL, 0, n); }
static void drop(mempool *p, void *b, size_t n) { mempool_alloc(p, b, n, 0); }

/* Fills n bytes with a pattern that starts at seed, or checks them. */
static void paint(void *b, size_t n, int seed) {
  for (size_t i = 0; i < n; i++)
    ((unsigned char *)b)[i] = (unsigned char)(seed + (int)i);
}
static int painted(const void *b, size_t n, int seed) {
  for (size_t i = 0; i < n; i++)
    if (((const unsigned char *)b)[i] != (unsigned char)(seed + (int)i))
      return 0;
  return 1;
}

static void test_reuse_within_a_class(void) {
  mempool p = fresh(MEMPOOL_KEEP);
  CHECK(grab(&p, 0) == NULL);
  void *a = grab(&p, 17);
  drop(&p, a, 17);
  CHECK(p.kept == 24); /* 9..24 bytes: a 24-byte block, a 32-byte glibc chunk */
  void *again = grab(&p, 24);
  CHECK(again == a);
  CHECK(p.kept == 0);
  drop(&p, again, 24);
  void *b = grab(&p, 33);
  drop(&p, b, 33);
  CHECK(p.kept == 24 + 40);
  void *c = grab(&p, 8);
  CHECK(c != a && c != b && p.kept == 24 + 40); /* another class: nothing to reuse */
  drop(&p, c, 8);
  void *big = grab(&p, MEMPOOL_SMALL + 1);
  drop(&p, big, MEMPOOL_SMALL + 1);
  CHECK(p.kept == 24 + 40 + 8); /* a big block goes straight back to malloc */
  void *edge = grab(&p, MEMPOOL_SMALL);
  drop(&p, edge, MEMPOOL_SMALL);
  CHECK(p.kept == 24 + 40 + 8 + MEMPOOL_SMALL && p.free[MEMPOOL_CLASSES] == edge);
  mempool_drain(&p);
  CHECK(p.kept == 0);
  for (size_t i = 0; i <= MEMPOOL_CLASSES; i++)
    CHECK(p.free[i] == NULL);
}

/* Every resize keeps min(old, new) bytes: same class, across classes, small
 * to big, big to small, big to big. */
static void test_resizes_keep_bytes(void) {
  mempool p = fresh(MEMPOOL_KEEP);
  static const size_t steps[] = {1, 10, 16, 17, 100, 248, 249, 5000, 300, 200, 40, 3, 70000, 9};
  size_t n = steps[0];
  unsigned char *b = grab(&p, n);
  paint(b, n, 7);
  for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
    size_t m = steps[i];
    unsigned char *q = mempool_alloc(&p, b, n, m);
    CHECK(q != NULL);
    CHECK(painted(q, n < m ? n : m, 7));
    if (m == 16 && n == 10)
      CHECK(q == b); /* same class: in place */
    paint(q, m, 7);
    b = q, n = m;
  }
  drop(&p, b, n);
  mempool_drain(&p);
  CHECK(p.kept == 0);
}

static void test_limit_caps_what_is_kept(void) {
  mempool p = fresh(48);
  void *b[5];
  for (int i = 0; i < 5; i++)
    b[i] = grab(&p, 24);
  for (int i = 0; i < 5; i++)
    drop(&p, b[i], 24);
  CHECK(p.kept == 48); /* two kept, three freed */
  mempool_drain(&p);
  mempool none = fresh(0);
  void *x = grab(&none, 8);
  drop(&none, x, 8);
  CHECK(none.kept == 0 && none.free[1] == NULL);
}

/* A whole Lua state on the pool: strings, tables grown and shrunk, a
 * collection, and at lua_close every block back. */
static void test_a_lua_state(void) {
  mempool p = fresh(MEMPOOL_KEEP);
  lua_State *L = lua_newstate(mempool_alloc, &p);
  CHECK(L != NULL);
  luaL_openlibs(L);
  const char *code = "local t = {} for i = 1, 20000 do t[i] = ('x'):rep(i % 300) .. i end "
                     "local n = 0 for i = 1, #t do n = n + #t[i] end "
                     "for i = 1, #t do t[i] = nil end collectgarbage() "
                     "return n";
  CHECK(luaL_dostring(L, code) == LUA_OK);
  CHECK(lua_tointeger(L, -1) == 3069094);
  lua_close(L);
  CHECK(p.kept > 0 && p.kept <= MEMPOOL_KEEP);
  mempool_drain(&p);
  CHECK(p.kept == 0);
}

int main(void) {
  test_reuse_within_a_class();
  test_resizes_keep_bytes();
  test_limit_caps_what_is_kept();
  test_a_lua_state();
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
