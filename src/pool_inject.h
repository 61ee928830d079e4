/* pool_inject.h: a pool's injection queue (src/pool_inject.c), where the tasks of
 * threads outside the pool wait: an unbounded MPMC queue of task pointers in
 * WF_INJECT_SHARDS shards, each a queue of linked segments. */
#ifndef WEFT_POOL_INJECT_H
#define WEFT_POOL_INJECT_H

#include "future_internal.h"

enum { WF_INJECT_SHARDS = 4 }; /* shards of a pool's injection queue; a power of two */

struct wf_seg;

/* One shard: producers claim positions at the tail; one consumer at a time takes
 * them at the head, under `lock`. The tail and the head each have a cache line. */
struct wf_inject {
    _Atomic uint64_t tail __attribute__((aligned(WF_CACHE_LINE)));
    _Atomic(struct wf_seg *) tail_seg; /* the segment of the tail's lap */
    _Atomic uint64_t head __attribute__((aligned(WF_CACHE_LINE))); /* written under lock */
    struct wf_seg *head_seg;                                       /* under lock */
    weft_lock lock;
    _Atomic(struct wf_seg *) spare_seg; /* one used segment kept for the next lap */
};

/* Empty shards; ENOMEM (nothing to free) when out of memory. */
WF_HIDDEN int wf_inject_init(struct wf_inject shards[WF_INJECT_SHARDS]);

/* Frees the shards' segments (no thread uses them any more). */
WF_HIDDEN void wf_inject_destroy(struct wf_inject shards[WF_INJECT_SHARDS]);

/* Appends f to the calling thread's shard (FIFO per submitting thread). 0, or
 * ENOMEM if a new segment was needed and none could be made (f is not queued).
 * The claim of a position is a seq_cst RMW: the first half of the pool's submit
 * Dekker. */
WF_HIDDEN int wf_inject_push(struct wf_inject shards[WF_INJECT_SHARDS], weft_future *f);

/* A worker's take from shard q: up to `max` tasks, oldest first, into out;
 * returns how many. 0 when q is empty, or when another consumer holds it (the
 * caller then steals from that one instead). */
WF_HIDDEN int wf_inject_take(struct wf_inject *q, weft_future **out, int max);

/* Shutdown's drain: the oldest task of q, waiting out a producer between its claim
 * and its slot; NULL once q is empty. */
WF_HIDDEN weft_future *wf_inject_drain_one(struct wf_inject *q);

/* Whether any shard holds a task or a claimed position, with a seq_cst load of
 * each tail (the second half of a Dekker pair: a worker's last look before it
 * parks, or leaves). */
WF_HIDDEN bool wf_inject_nonempty(struct wf_inject shards[WF_INJECT_SHARDS]);

/* The same as a hint (relaxed loads, ordering nothing). */
static inline bool wf_inject_looks_empty(struct wf_inject shards[WF_INJECT_SHARDS])
{
    for (int i = 0; i < WF_INJECT_SHARDS; i++)
        if (atomic_load_explicit(&shards[i].tail, memory_order_relaxed) !=
            atomic_load_explicit(&shards[i].head, memory_order_relaxed))
            return false;
    return true;
}

#endif
