/* pool_deque.h: a pool worker's Chase-Lev deque of tasks; its algorithm, layout
 * and invariant open src/pool_deque.c. The owner pushes and takes at the bottom,
 * any thread steals at the top. The owner's push and take are inline here (a
 * worker runs them for every task), the rest is in src/pool_deque.c. */
#ifndef WEFT_POOL_DEQUE_H
#define WEFT_POOL_DEQUE_H

#include "future_internal.h"

enum { WF_DEQUE_SIZE = 256 }; /* tasks per deque; a power of two */

/* top and bottom only grow; the task at index i lives in slots[i % WF_DEQUE_SIZE];
 * the deque holds bottom - top tasks when that is positive. top and bottom each
 * have a cache line: thieves write one, the owner the other. */
struct wf_deque {
    _Atomic int64_t top; /* thieves CAS it */
    char pad0[WF_CACHE_LINE - sizeof(int64_t)];
    _Atomic int64_t bottom; /* written by the owner only */
    char pad1[WF_CACHE_LINE - sizeof(int64_t)];
    _Atomic(weft_future *) slots[WF_DEQUE_SIZE];
};

/* An empty deque. */
WF_HIDDEN void wf_deque_init(struct wf_deque *q);

/* Owner: push at the bottom; false when full. A seq_cst store of bottom: the first
 * half of the pool's submit Dekker. Inline, as take: a worker runs them for every
 * task. */
static inline bool wf_deque_push(struct wf_deque *q, weft_future *f)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed); /* ours alone */
    /* acquire: a thief's CAS of top happens before we reuse the slot it read. */
    int64_t t = atomic_load_explicit(&q->top, memory_order_acquire);
    if (b - t >= WF_DEQUE_SIZE)
        return false;
    /* relaxed: published by the store of bottom below. */
    atomic_store_explicit(&q->slots[b & (WF_DEQUE_SIZE - 1)], f, memory_order_relaxed);
    /* seq_cst: release publishes the slot (and the task) to thieves; seq_cst makes
     * it the first half of the submit Dekker (wf_pool_notify reads next). */
    atomic_store_explicit(&q->bottom, b + 1, memory_order_seq_cst);
    return true;
}

/* Owner: how many more tasks fit (an underestimate while thieves take). */
static inline int64_t wf_deque_room(struct wf_deque *q)
{
    /* relaxed: our own bottom; acquire: a top that only grows (room is
     * underestimated), and a thief's CAS before we reuse the slot it read. */
    return WF_DEQUE_SIZE - (atomic_load_explicit(&q->bottom, memory_order_relaxed) -
                            atomic_load_explicit(&q->top, memory_order_acquire));
}

/* Owner: push fs[0..n-1] with one store of bottom, fs[0] nearest the bottom (taken
 * first by the owner); the caller has checked there is room. */
WF_HIDDEN void wf_deque_push_batch(struct wf_deque *q, weft_future *const *fs, int n);

/* Owner: take the newest task at the bottom; NULL when empty. */
static inline weft_future *wf_deque_take(struct wf_deque *q)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed) - 1;
    /* relaxed: top only grows, so if it has reached bottom already the deque is
     * empty, and we skip the costly store below. */
    if (atomic_load_explicit(&q->top, memory_order_relaxed) > b)
        return NULL;
    /* seq_cst store, then seq_cst load: the paper's fence between them. Either a
     * thief's load of bottom sees our claim, or our load of top sees its CAS. */
    atomic_store_explicit(&q->bottom, b, memory_order_seq_cst);
    int64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    if (t > b) {
        /* Empty after all: restore. release: keeps publishing the slots below b. */
        atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
        return NULL;
    }
    /* relaxed: our own slot, written by us. */
    weft_future *f =
        atomic_load_explicit(&q->slots[b & (WF_DEQUE_SIZE - 1)], memory_order_relaxed);
    if (t == b) {
        /* The last task: race the thieves for it on top. seq_cst as in the paper. */
        if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
                                                     memory_order_relaxed))
            f = NULL;
        /* release: as above. */
        atomic_store_explicit(&q->bottom, b + 1, memory_order_release);
    }
    return f;
}

/* Any thread: take the oldest task at the top; NULL when empty or when a race was
 * lost (then *lost is set: the deque may still hold tasks). */
WF_HIDDEN weft_future *wf_deque_steal(struct wf_deque *q, bool *lost);

/* Any thread: whether the deque holds a task, with seq_cst loads (the second half
 * of a Dekker pair: a worker's last look before it parks, or leaves). */
WF_HIDDEN bool wf_deque_nonempty(struct wf_deque *q);

/* Any thread: the same as a hint (relaxed loads, ordering nothing). */
static inline bool wf_deque_looks_empty(struct wf_deque *q)
{
    return atomic_load_explicit(&q->bottom, memory_order_relaxed) <=
           atomic_load_explicit(&q->top, memory_order_relaxed);
}

#endif
