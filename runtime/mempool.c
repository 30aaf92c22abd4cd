/* The size-class free lists behind mempool_alloc. A small block is always
 * malloc'd at its class's full size, so any block in a class's list serves
 * any request of that class; a block may be bigger than its class (a shrink
 * that kept its place), never smaller. */
#include <stdlib.h>
#include <string.h>

#include "mempool.h"

struct mempool_block {
  mempool_block *next;
};

/* 1..MEMPOOL_CLASSES for a small size (n > 0), above for a big one. */
static size_t class_of(size_t n) { return (n + 8 + MEMPOOL_STEP - 1) / MEMPOOL_STEP; }

static void *take(mempool *p, size_t n) {
  size_t c = class_of(n);
  if (c > MEMPOOL_CLASSES)
    return malloc(n);
  mempool_block *b = p->free[c];
  if (!b)
    return malloc(MEMPOOL_SIZE(c));
  p->free[c] = b->next;
  p->kept -= MEMPOOL_SIZE(c);
  return b;
}

static void give(mempool *p, void *ptr, size_t n) {
  size_t c = class_of(n);
  if (c > MEMPOOL_CLASSES || p->kept + MEMPOOL_SIZE(c) > p->limit) {
    free(ptr);
    return;
  }
  mempool_block *b = ptr;
  b->next = p->free[c];
  p->free[c] = b;
  p->kept += MEMPOOL_SIZE(c);
}

/* Lua's contract: nsize 0 frees; a shrink never fails. Without ptr, osize
 * names the kind of object, not a size. */
void *mempool_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  mempool *p = ud;
  if (!ptr)
    return nsize ? take(p, nsize) : NULL;
  if (nsize == 0) {
    give(p, ptr, osize);
    return NULL;
  }
  size_t oc = class_of(osize), nc = class_of(nsize);
  if (oc == nc && nc <= MEMPOOL_CLASSES)
    return ptr;
  if (oc > MEMPOOL_CLASSES && nc > MEMPOOL_CLASSES) {
    void *q = realloc(ptr, nsize);
    return q || nsize > osize ? q : ptr;
  }
  void *q = take(p, nsize);
  if (!q)
    return nsize > osize ? NULL : ptr;
  memcpy(q, ptr, osize < nsize ? osize : nsize);
  give(p, ptr, osize);
  return q;
}

void mempool_drain(mempool *p) {
  for (size_t c = 1; c <= MEMPOOL_CLASSES; c++)
    while (p->free[c]) {
      mempool_block *b = p->free[c];
      p->free[c] = b->next;
      free(b);
    }
  p->kept = 0;
}
