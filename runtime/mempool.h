/* A lua_Alloc for states whose garbage is mostly small and short-lived
 * (the string each conn:read returns): freed blocks of up to MEMPOOL_SMALL
 * bytes wait in one free list per size class and are handed out
 * again without a trip through malloc. Knows nothing of Lua. */
#ifndef LUDS_MEMPOOL_H
#define LUDS_MEMPOOL_H

#include <stddef.h>

/* Class c holds blocks of 16c - 8 bytes: what fills a 16c-byte glibc chunk
 * (8 bytes of its header), so a block costs what malloc would charge. */
#define MEMPOOL_STEP 16
#define MEMPOOL_CLASSES 16
#define MEMPOOL_SIZE(c) ((c) * MEMPOOL_STEP - 8)
#define MEMPOOL_SMALL MEMPOOL_SIZE(MEMPOOL_CLASSES) /* 248 */
#define MEMPOOL_KEEP (4u << 20) /* what the free lists hold at most, by default */

typedef struct mempool_block mempool_block;

/* Zeroed, then limit set: the bytes the free lists may hold (0: none, every
 * block goes back to malloc at once, for leak and use-after-free checkers). */
typedef struct mempool {
  mempool_block *free[MEMPOOL_CLASSES + 1];
  size_t kept, limit;
} mempool;

/* The lua_Alloc: ud is the mempool. Not thread-safe, as a lua_State is not. */
void *mempool_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Returns every kept block to malloc: after lua_close, the pool is empty. */
void mempool_drain(mempool *p);

#endif
