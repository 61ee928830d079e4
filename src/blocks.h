/* blocks.h: the ordered block cache, for small objects freed in about the order
 * they were allocated by another thread (a queue's nodes: the producer allocates,
 * the consumer frees in queue order).
 *
 * Objects are carved in address order from WF_BLOCK_BYTES blocks, and a block is
 * reused only whole, once every object carved from it has been freed: so each
 * thread's objects always lie one after the other, and a consumer walking a long
 * queue walks each producer's nodes in ascending order, which the hardware
 * prefetcher follows. The magazines of magazine.h hand objects back in the order
 * they were freed; after a few rounds through a queue that order is a random walk
 * of its memory (BENCHMARKS.md, the unbounded FIFO's slow mode).
 *
 * A block's header counts its objects freed; the free that completes the count
 * gives the block to its class's depot (under the class lock), where a thread
 * whose block is used up takes one. Blocks are never given back to malloc (the
 * memory kept is the peak of live objects, rounded up to blocks). An exiting
 * thread counts the objects its block never handed out as freed (WF_EXIT_CACHES).
 *
 * Under ASan a free object is poisoned; under TSan (its runtime present) there
 * are no blocks: each object is its own malloc and free (wf_tsan_alloc, for the
 * reasons of src/magazine.c). */
#ifndef WF_BLOCKS_H
#define WF_BLOCKS_H

#include "internal.h"
#include "tsan.h"

enum { WF_BLOCK_BYTES = 4096 }; /* a page: one TLB entry per block */

/* The classes: each thread has one cursor per class. */
enum wf_block_id { WF_BLOCK_QUEUE_NODE, WF_BLOCK_CLASSES };

struct wf_block {
    _Atomic uint32_t freed; /* objects freed since the block was last taken */
    struct wf_block *next;  /* in the depot, under the class lock */
};

typedef struct wf_block_class {
    enum wf_block_id id;
    uint32_t size, align; /* of one object; align divides size */
    uint32_t first;       /* the first object's offset in its block */
    uint32_t count;       /* objects in a block */
    weft_lock lock;       /* guards depot */
    struct wf_block *depot;
} wf_block_class;

#define WF_BLOCK_FIRST(align_) ((sizeof(struct wf_block) + (align_) - 1) / (align_) * (align_))
#define WF_BLOCK_CLASS_INIT(id_, size_, align_)                                                \
    {.id = (id_), .size = (size_), .align = (align_), .first = WF_BLOCK_FIRST(align_),         \
     .count = (WF_BLOCK_BYTES - WF_BLOCK_FIRST(align_)) / (size_), .lock = WEFT_LOCK_INIT,       \
     .depot = NULL}

struct wf_block_cursor {
    struct wf_block *block; /* the block this thread carves from, or NULL */
    uint32_t used;          /* objects carved from it */
    wf_block_class *cls;    /* set on first use: the exit hook needs it */
};

/* The calling thread's cursors (src/blocks.c); initial-exec, as the magazines'. */
WF_HIDDEN extern _Thread_local struct wf_block_cursor wf_block_cursors[WF_BLOCK_CLASSES]
    __attribute__((tls_model("initial-exec")));

/* The slow paths (src/blocks.c): a new block or one from the depot (under TSan, a
 * malloc), and a completed block back to the depot. */
WF_HIDDEN void *wf_block_alloc_slow(wf_block_class *c);
WF_HIDDEN void wf_block_recycle(wf_block_class *c, struct wf_block *b);

/* An object of the class (uninitialised memory), or NULL when out of memory.
 * Inline: the next object of this thread's block. */
static inline void *wf_block_alloc(wf_block_class *c)
{
    struct wf_block_cursor *k = &wf_block_cursors[c->id];
    if (WF_UNLIKELY(!k->block || k->used == c->count))
        return wf_block_alloc_slow(c);
    void *obj = (char *)k->block + c->first + (size_t)k->used++ * c->size;
    WF_UNPOISON(obj, c->size);
    return obj;
}

/* Gives obj (from wf_block_alloc of the same class, by any thread) back. Never
 * fails, never blocks but for the depot's lock when it completes its block. */
static inline void wf_block_free(wf_block_class *c, void *obj)
{
    if (WF_UNLIKELY(wf_tsan_present())) {
        wf_tsan_free(obj);
        return;
    }
    struct wf_block *b = (struct wf_block *)((uintptr_t)obj & ~(uintptr_t)(WF_BLOCK_BYTES - 1));
    WF_POISON(obj, c->size);
    /* acq_rel: the free that completes the count acquires every earlier free's
     * release (a chain of read-modify-writes), so every use of the block's objects
     * happens before the block's next owner carves it again. */
    if (atomic_fetch_add_explicit(&b->freed, 1, memory_order_acq_rel) + 1 == c->count)
        wf_block_recycle(c, b);
}

#endif
