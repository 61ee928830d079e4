/* pool_inject.h: a pool's injection queue (src/pool_inject.c), where the tasks of
 * threads outside the pool wait: an unbounded MPMC queue of task pointers in
 * WF_INJECT_SHARDS shards, each a queue of linked segments. */
#ifndef WEFT_POOL_INJECT_H
#define WEFT_POOL_INJECT_H

#include "future_internal.h"

#include <sched.h>

enum {
    WF_INJECT_SHARDS = 4,      /* shards of a pool's injection queue; a power of two */
    WF_SEG_SLOTS = 63,         /* task slots of a segment */
    WF_LAP = WF_SEG_SLOTS + 1, /* positions per segment: the last one is never a slot */
    WF_BACKLOG = 1 << 14,      /* queued tasks past which a producer yields its core */
};

/* A segment; a slot is NULL until its producer writes it. */
struct wf_seg {
    _Atomic(weft_future *) slots[WF_SEG_SLOTS];
    _Atomic(struct wf_seg *) next; /* set before the last slot is written */
};

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

/* The shard the calling thread pushes to, plus one (0: not chosen yet): threads
 * take shards in turn at their first push, so up to WF_INJECT_SHARDS submitters
 * each have their own tail. initial-exec: no __tls_get_addr call in the shared
 * library. */
WF_HIDDEN extern _Thread_local uint32_t wf_inject_shard_plus_one
    __attribute__((tls_model("initial-exec")));
WF_HIDDEN void wf_inject_pick_shard(void);
WF_HIDDEN int wf_inject_push_slow(struct wf_inject *q, weft_future *f);

/* Appends f to the calling thread's shard (FIFO per submitting thread). 0, or
 * ENOMEM if a new segment was needed and none could be made (f is not queued).
 * The claim of a position is a seq_cst RMW: the first half of the pool's submit
 * Dekker. Inline, as every submit from outside the pool makes one: the claim of a
 * slot other than a segment's last; the rest is wf_inject_push_slow's. */
static inline int wf_inject_push(struct wf_inject shards[WF_INJECT_SHARDS], weft_future *f)
{
    if (WF_UNLIKELY(!wf_inject_shard_plus_one))
        wf_inject_pick_shard();
    struct wf_inject *q = &shards[wf_inject_shard_plus_one - 1];
    /* acquire: as in wf_inject_push_slow (tail_seg is this lap's segment). */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_acquire);
    uint32_t slot = (uint32_t)(pos % WF_LAP);
    if (WF_LIKELY(slot < WF_SEG_SLOTS - 1)) {
        /* acquire: the segment's initialisation by the producer that installed it. */
        struct wf_seg *seg = atomic_load_explicit(&q->tail_seg, memory_order_acquire);
        /* seq_cst: claims position pos (see above). */
        if (WF_LIKELY(atomic_compare_exchange_weak_explicit(
                &q->tail, &pos, pos + 1, memory_order_seq_cst, memory_order_relaxed))) {
            /* release: the consumer's acquire load of the slot sees the task. */
            atomic_store_explicit(&seg->slots[slot], f, memory_order_release);
            /* The backlog's yield, as in wf_inject_push_slow (relaxed: a hint). */
            if (slot == 0 &&
                pos - atomic_load_explicit(&q->head, memory_order_relaxed) > WF_BACKLOG)
                sched_yield();
            return 0;
        }
    }
    return wf_inject_push_slow(q, f);
}

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
