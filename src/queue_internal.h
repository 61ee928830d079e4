/* queue_internal.h: what the queue family's files share (src/queue*.c,
 * src/simplequeue.c). The public layout and the ring's state tables are in
 * include/weft/queue.h.
 *
 * Structure: weft_queue holds what every kind shares (the tail/head counters, the
 * wait lists, the task count, the count of waiting threads); an implementation
 * (ring, linked, locked) supplies one-shot attempts, and src/queue.c turns attempts
 * into blocking calls with one loop: try, spin a little, list, re-check, sleep. */
#ifndef WEFT_QUEUE_INTERNAL_H
#define WEFT_QUEUE_INTERNAL_H

#include "waiting.h"
#include "weft/queue.h"

/* One request as the blocking loop sees it: up to n items to put from `in` (with
 * priority `prio`) or to get into `out`. */
typedef struct wf_queue_op {
    void *const *in;
    void **out;
    size_t n;
    int64_t prio;
} wf_queue_op;

/* One attempt, never sleeping: returns how many items moved (> 0), or
 *   -EAGAIN       it would block (empty / full);
 *   -EINPROGRESS  another thread's put or get is half done: retry soon, never sleep on
 *                 it (that thread is running, not waiting);
 *   another -errno (ESHUTDOWN, ENOMEM).
 * `recheck` is the sleeper's check after wf_waitlist_prepare: the loads that decide
 * "would block" must then be seq_cst (see src/waiting.h). */
typedef ssize_t wf_queue_attempt(weft_queue *q, wf_queue_op *op, bool recheck);

/* An implementation. */
typedef struct wf_queue_impl {
    int (*init)(weft_queue *q);  /* 0 or ENOMEM; q->maxsize/kind are set */
    void (*fini)(weft_queue *q); /* frees state, drops items; nobody uses q */
    wf_queue_attempt *put, *get;
    /* Whether a put / get could move now (a snapshot): a sleeper that used up a
     * wakeup passes one on while these say so (see wf_queue_block). */
    bool (*can_put)(const weft_queue *q);
    bool (*can_get)(const weft_queue *q);
    size_t (*qsize)(const weft_queue *q);
    uint64_t (*puts)(const weft_queue *q); /* items ever put, mod q->count_mod */
    /* Close for puts (and for gets when immediate, discarding what is left); returns
     * how many items it discarded. Does not wake anyone. */
    uint64_t (*shutdown)(weft_queue *q, bool immediate);
} wf_queue_impl;

enum { WF_QUEUE_RING, WF_QUEUE_LINKED, WF_QUEUE_LOCKED };

WF_HIDDEN extern const wf_queue_impl wf_queue_ring_impl, wf_queue_linked_impl,
    wf_queue_locked_impl;

/* Sleeping and spinning go through the waiting core (src/waiting.h): wait lists
 * (prepare, re-check with seq_cst loads, sleep or cancel) and its spin policies,
 * WF_SPIN_QUEUE before sleeping on empty / full, WF_SPIN_PEER for a peer half way.
 *
 * q->waiting counts the threads inside a waiting loop of q (spinning or sleeping in
 * a put, get, batch or join; and a shutdown, throughout): a thread enters before its
 * first spin and leaves after its last touch of q, so weft_queue_destroy can refuse
 * (EBUSY) while any thread waits. A destroy racing a call that has not started
 * waiting is the caller's bug (see weft/queue.h). */
static inline void wf_queue_enter(weft_queue *q)
{
    /* relaxed: entering publishes nothing; destroy only counts us. */
    atomic_fetch_add_explicit(&q->waiting, 1, memory_order_relaxed);
}

static inline void wf_queue_leave(weft_queue *q)
{
    /* release: pairs with destroy's acquire load, so everything we did to q happens
     * before a destroy that sees us gone frees it. */
    atomic_fetch_sub_explicit(&q->waiting, 1, memory_order_release);
}

/* The blocking loop shared by every kind and direction: attempts until one moves
 * items, fails for good, or (sleeping on `e` between attempts) `d` passes or its
 * token fires. nowait: one attempt (retried only while a peer is half way). Returns
 * like the attempt; -ETIMEDOUT once d has passed, -ECANCELED once its token (or an
 * ancestor) has fired, in both cases with nothing moved (a batch waits only for its
 * first item, so one that moved any returns how many). The token is looked at only
 * when an attempt would block: before each step of the spin and after each sleep. */
WF_HIDDEN ssize_t wf_queue_block(weft_queue *q, wf_queue_attempt *attempt, wf_queue_op *op,
                                 wf_waitlist *e, bool (*can_again)(const weft_queue *),
                                 weft_deadline d, bool nowait);

/* A ring position as a count of cells from position 0 (CLOSED ignored), modulo
 * q->count_mod; and the distance from one position to another. */
static inline uint64_t wf_ring_linear(const weft_queue *q, uint64_t pos)
{
    return ((pos >> WEFT__QUEUE_LAP_SHIFT) & WEFT__QUEUE_LAP_MASK) * q->cap +
           (pos & WEFT__QUEUE_INDEX_MASK);
}

static inline uint64_t wf_ring_distance(const weft_queue *q, uint64_t from, uint64_t to)
{
    uint64_t a = wf_ring_linear(q, from), b = wf_ring_linear(q, to);
    return b >= a ? b - a : b + q->count_mod - a;
}

/* The linked queue's core, shared with weft_simplequeue. */
WF_HIDDEN ssize_t wf_linked_put(weft_queue *q, wf_queue_op *op, bool recheck);
WF_HIDDEN ssize_t wf_linked_get(weft_queue *q, wf_queue_op *op, bool recheck);
WF_HIDDEN bool wf_linked_can_get(const weft_queue *q);

/* Allocates a zeroed weft_queue of `bytes` (cache-line aligned) and runs the
 * implementation's init: the queue (*err = 0), or NULL (*err = ENOMEM). */
WF_HIDDEN weft_queue *wf_queue_alloc(size_t bytes, size_t maxsize, int kind, int *err);
/* Whether a thread waits in one of q's calls (destroy then refuses). */
WF_HIDDEN bool wf_queue_busy(const weft_queue *q);
/* Frees q and the items left in it; nobody uses q. */
WF_HIDDEN void wf_queue_free(weft_queue *q);

#endif
