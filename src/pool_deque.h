/* pool_deque.h: a pool worker's Chase-Lev deque of tasks (src/pool_deque.c). The
 * owner pushes and takes at the bottom; any thread steals at the top. */
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
 * half of the pool's submit Dekker. */
WF_HIDDEN bool wf_deque_push(struct wf_deque *q, weft_future *f);

/* Owner: how many more tasks fit (an underestimate while thieves take). */
WF_HIDDEN int64_t wf_deque_room(struct wf_deque *q);

/* Owner: push fs[0..n-1] with one store of bottom, fs[0] nearest the bottom (taken
 * first by the owner); the caller has checked there is room. */
WF_HIDDEN void wf_deque_push_batch(struct wf_deque *q, weft_future *const *fs, int n);

/* Owner: take the newest task at the bottom; NULL when empty. */
WF_HIDDEN weft_future *wf_deque_take(struct wf_deque *q);

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
