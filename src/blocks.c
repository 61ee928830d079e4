/* The ordered block cache (src/blocks.h).
 *
 * Invariant: a block is in exactly one of three states: carved by one thread (its
 * cursor's block, objects [0, used) handed out), handed out whole (its cursor moved
 * on; freed < count), or in its class's depot (freed == 0, every object poisoned
 * under ASan). It leaves the second state only through the free that brings freed
 * to count, which resets the count and gives it to the depot. */
#include "blocks.h"
#include "waiting.h"

#include <stdlib.h>

_Thread_local struct wf_block_cursor wf_block_cursors[WF_BLOCK_CLASSES]
    __attribute__((tls_model("initial-exec")));

void wf_block_recycle(wf_block_class *c, struct wf_block *b)
{
    /* relaxed: nobody else touches the block now; the lock publishes it. */
    atomic_store_explicit(&b->freed, 0, memory_order_relaxed);
    weft_lock_acquire(&c->lock);
    b->next = c->depot;
    c->depot = b;
    weft_lock_release(&c->lock);
}

/* At thread exit: the objects this thread's blocks never handed out count as freed,
 * so each block goes back to its depot once the others are freed. */
static void wf_block_thread_exit(void)
{
    for (int id = 0; id < WF_BLOCK_CLASSES; id++) {
        struct wf_block_cursor *k = &wf_block_cursors[id];
        wf_block_class *c = k->cls;
        if (k->block && k->used < c->count) {
            uint32_t left = c->count - k->used;
            /* acq_rel: as a free (blocks.h). */
            if (atomic_fetch_add_explicit(&k->block->freed, left, memory_order_acq_rel) + left ==
                c->count)
                wf_block_recycle(c, k->block);
        }
        k->block = NULL;
        k->used = 0;
        k->cls = NULL; /* a later use in this thread (a later hook) arms again */
    }
}

void *wf_block_alloc_slow(wf_block_class *c)
{
    if (WF_UNLIKELY(wf_tsan_present()))
        return wf_tsan_alloc(c->align, c->size); /* no blocks (see blocks.h) */
    struct wf_block_cursor *k = &wf_block_cursors[c->id];
    if (!k->cls) {
        k->cls = c;
        wf_exit_register(WF_EXIT_CACHES, wf_block_thread_exit);
        wf_exit_arm();
    }
    /* The old block, if any, is handed out whole: its last free recycles it. */
    weft_lock_acquire(&c->lock);
    struct wf_block *b = c->depot;
    if (b)
        c->depot = b->next;
    weft_lock_release(&c->lock);
    if (!b) {
        b = aligned_alloc(WF_BLOCK_BYTES, WF_BLOCK_BYTES);
        if (!b)
            return NULL;
        atomic_init(&b->freed, 0);
        WF_POISON((char *)b + c->first, (size_t)c->count * c->size);
    }
    k->block = b;
    k->used = 0;
    return wf_block_alloc(c); /* the block's first object */
}
