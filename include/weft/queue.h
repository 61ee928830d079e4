/* weft/queue.h: Python's queue module: Queue (bounded or not), LifoQueue,
 * PriorityQueue and SimpleQueue. Items are `void *`; the queue never touches what
 * they point to.
 *
 * Queues are the one family that owns memory: weft_queue_create allocates,
 * weft_queue_destroy frees. The kinds:
 *
 *   WEFT_FIFO, maxsize 1..WEFT_QUEUE_RING_MAX   a lock-free ring (Vyukov's bounded MPMC
 *                        queue: one sequence number per cell). put and get take no lock
 *                        and make no system call while the queue is neither empty nor
 *                        full and nobody sleeps; their fast paths are inline.
 *   WEFT_FIFO, maxsize 0 or larger              liburcu's wait-free queue (cds_wfcq):
 *                        producers never wait for each other, consumers take turns on
 *                        a weft_lock; list nodes are recycled per thread (no malloc per
 *                        item). A large maxsize is enforced by a counter, so nothing
 *                        is allocated up front.
 *   WEFT_LIFO, WEFT_PRIORITY                    an array stack / binary heap under a
 *                        weft_lock; PRIORITY gives the lowest priority first, and FIFO
 *                        order among equal priorities.
 *
 * Every kind blocks the same way: a wait list per direction (not empty, not full,
 * all tasks done) in weft's waiting core, after a short spin. Timeouts follow weft's
 * convention: timeout_ns < 0 (WEFT_FOREVER) waits forever, 0 never blocks (EAGAIN, as
 * put_nowait / get_nowait), > 0 waits at most that long (ETIMEDOUT, never early); the
 * _until twins take an absolute weft_deadline. Return codes are errno values.
 *
 * Cancellation: a deadline may carry a token (weft/cancel.h). Once it (or an
 * ancestor) has fired, every `_until` call that would wait returns ECANCELED instead
 * (batches -ECANCELED), having moved nothing: no item put or taken, the size and the
 * task count as they were. A call that can move at once still does, fired token or
 * not. A token fired while the call waits wakes it at once.
 *
 * Shutdown is Python 3.13's: afterwards put fails with ESHUTDOWN; get drains what is
 * left and then fails with ESHUTDOWN, or at once when the shutdown was immediate (which
 * also discards the items left and counts each as done for join). Every sleeping
 * putter, getter and joiner is woken to see it.
 *
 * Destroy refuses (EBUSY) while any thread waits in a call on the queue; it cannot
 * see a call that does not wait, so freeing a queue that such a call may still use
 * is the caller's bug.
 */
#ifndef WEFT_QUEUE_H
#define WEFT_QUEUE_H

#include "common.h"
#include "lock.h"
#include "waitlist.h"

#include <sys/types.h>

WEFT_BEGIN_DECLS

/* Kinds for weft_queue_create. */
#define WEFT_FIFO 0
#define WEFT_LIFO 1
#define WEFT_PRIORITY 2

/* The largest maxsize a FIFO queue serves from a preallocated ring (16 bytes a
 * cell); beyond it the linked queue with a counted limit is used. */
#define WEFT_QUEUE_RING_MAX 65536

/* ---- private layout (read by the inline fast paths; use the functions) -----------
 *
 * Ring positions (tail: the next put, head: the next get) are 64-bit words:
 *
 *   bits 0..31    index of the cell (0 .. maxsize-1)
 *   bits 32..62   lap: how many times the index wrapped (mod 2^31)
 *   bit 63        CLOSED: on tail, shut down (puts fail); on head, shut down
 *                 immediately (gets fail). A CAS that expects an open word fails.
 *
 * Cell sequence word, for the cell's position of lap L (mod 2^32):
 *
 *   2L       free: the put of lap L may write it
 *   2L + 1   full: holds lap L's item; the get of lap L may read it
 *   2L + 2   read: free for lap L + 1
 *
 * A put claims a free cell by advancing tail with a CAS, writes the item and
 * publishes it with the sequence store; a get mirrors this on head. The other kinds
 * use tail/head as plain counters of puts and gets (with the same CLOSED bits).
 *
 * Sleepers wait in one wait list per direction (weft__waitlist, weft/waitlist.h):
 * a change makes no system call unless a thread is listed. */
#define WEFT__QUEUE_CLOSED (UINT64_C(1) << 63)
#define WEFT__QUEUE_LAP_SHIFT 32
#define WEFT__QUEUE_LAP_MASK ((UINT64_C(1) << 31) - 1)
#define WEFT__QUEUE_INDEX_MASK ((UINT64_C(1) << 32) - 1)

#define WEFT__QUEUE_CACHELINE __attribute__((aligned(64)))

typedef struct weft__queue_cell {
    WEFT_ATOMIC(uint32_t) seq;
    void *item; /* published and claimed through seq */
} weft__queue_cell;

typedef struct weft_queue {
    /* Set at create, read-only after. */
    weft__queue_cell *cells; /* the ring; NULL for the other kinds */
    uint32_t cap;            /* ring: cells (= maxsize) */
    int kind;                /* WEFT_FIFO / WEFT_LIFO / WEFT_PRIORITY */
    int impl;                /* which implementation serves it (src/queue_internal.h) */
    size_t maxsize;          /* 0: unbounded */
    uint64_t count_mod;      /* positions and task counts wrap modulo this */
    void *state;             /* the implementation's own state */
    /* Each hot word on its own cache line: producers, consumers, sleepers. */
    WEFT_ATOMIC(uint64_t) tail WEFT__QUEUE_CACHELINE;
    WEFT_ATOMIC(uint64_t) head WEFT__QUEUE_CACHELINE;
    weft__waitlist not_empty WEFT__QUEUE_CACHELINE; /* getters sleep here */
    weft__waitlist not_full WEFT__QUEUE_CACHELINE;  /* putters sleep here */
    WEFT_ATOMIC(uint64_t) done WEFT__QUEUE_CACHELINE;  /* task_done count, mod count_mod */
    weft__waitlist all_done;                        /* joiners sleep here */
    /* Threads spinning or sleeping in a call on the queue (destroy refuses while
     * any is); only the slow paths touch it. */
    WEFT_ATOMIC(uint32_t) waiting WEFT__QUEUE_CACHELINE;
} weft_queue;

/* Slow paths and helpers behind the inline fast paths; not for direct use. */
WEFT_API int weft__queue_put_slow(weft_queue *q, void *item, weft_deadline d, bool nowait);
WEFT_API int weft__queue_get_slow(weft_queue *q, void **item, weft_deadline d, bool nowait);
WEFT_API void weft__waitlist_notify(weft__waitlist *e, int n);
WEFT_INLINE int weft__queue_ring_put(weft_queue *q, void *item);
WEFT_INLINE int weft__queue_ring_get(weft_queue *q, void **item);

/* ---- Queue, LifoQueue, PriorityQueue -------------------------------------------- */

/* Create a queue of `kind` (WEFT_FIFO, WEFT_LIFO or WEFT_PRIORITY) holding at most
 * `maxsize` items (0: no limit) and store it in *q. Never blocks. Returns 0, EINVAL
 * (q NULL, unknown kind) or ENOMEM; on failure *q is unchanged. */
WEFT_API int weft_queue_create(weft_queue **q, size_t maxsize, int kind);

/* Free the queue and drop the items left in it. Never blocks. Returns 0, EINVAL (q
 * NULL) or EBUSY: a thread waits in one of its calls, and nothing is freed. A call
 * waits from the moment its first attempt finds the queue full or empty (it spins,
 * then sleeps) until it returns: put, put_prio, get, the batches and join; and a
 * shutdown, throughout. Shutting the queue down wakes the waiters of put and get;
 * destroy may then be tried again until it returns 0.
 * A call that does not wait (it moves its items, or fails, at once) is not seen:
 * destroying a queue while such a call may still run on it, or before one that is
 * about to start, is the caller's bug, as any use after free is. */
WEFT_API int weft_queue_destroy(weft_queue *q);

/* Put `item` at the tail (LIFO: on top; PRIORITY: with priority 0), waiting up to
 * timeout_ns for room while the queue is full. Returns 0, EAGAIN (timeout 0 and the
 * queue full), ETIMEDOUT, ESHUTDOWN, ENOMEM (unbounded kinds out of memory) or EINVAL
 * (q NULL). */
WEFT_INLINE int weft_queue_put(weft_queue *q, void *item, int64_t timeout_ns);
/* As weft_queue_put with an absolute deadline: ETIMEDOUT (never EAGAIN) once d has
 * passed with the queue still full; ECANCELED once d's token (or an ancestor) has
 * fired with the queue still full (item not put). */
WEFT_INLINE int weft_queue_put_until(weft_queue *q, void *item, weft_deadline d);

/* Put `item` into a WEFT_PRIORITY queue with priority `prio`: gets return the lowest
 * priority first, and equal priorities in the order they were put. As put otherwise
 * (the _until twin: ECANCELED as weft_queue_put_until); EINVAL on a queue of another
 * kind. */
WEFT_API int weft_queue_put_prio(weft_queue *q, int64_t prio, void *item, int64_t timeout_ns);
WEFT_API int weft_queue_put_prio_until(weft_queue *q, int64_t prio, void *item, weft_deadline d);

/* Take the next item (FIFO: the oldest; LIFO: the newest; PRIORITY: the lowest
 * priority) into *item, waiting up to timeout_ns while the queue is empty. Returns 0,
 * EAGAIN (timeout 0 and the queue empty), ETIMEDOUT, ESHUTDOWN (shut down and empty, or
 * shut down immediately) or EINVAL (q or item NULL). */
WEFT_INLINE int weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns);
/* As weft_queue_get with an absolute deadline: ETIMEDOUT (never EAGAIN) once d has
 * passed with the queue still empty; ECANCELED once d's token (or an ancestor) has
 * fired with the queue still empty (nothing taken, *item unchanged). */
WEFT_INLINE int weft_queue_get_until(weft_queue *q, void **item, weft_deadline d);

/* Batches: move up to n items for one synchronization cost, waiting (as put / get do)
 * only until the first can move. put_many puts items[0..], in order, as room allows;
 * get_many fills items[0..] in the order single gets would return them. Return how
 * many moved, or a negative errno: -EAGAIN, -ETIMEDOUT, -ESHUTDOWN, -ENOMEM, -EINVAL
 * (q NULL, whatever n is; items NULL with n > 0); the _until twins also -ECANCELED
 * (d's token fired before the first item could move: none moved). As they wait only
 * for the first item, a batch that moved k > 0 returns k, timeout or token alike.
 * With n = 0 on a valid q they return 0 at once and touch nothing (items may be
 * NULL). */
WEFT_API ssize_t weft_queue_put_many(weft_queue *q, void *const *items, size_t n,
                                     int64_t timeout_ns);
WEFT_API ssize_t weft_queue_put_many_until(weft_queue *q, void *const *items, size_t n,
                                           weft_deadline d);
WEFT_API ssize_t weft_queue_get_many(weft_queue *q, void **items, size_t n, int64_t timeout_ns);
WEFT_API ssize_t weft_queue_get_many_until(weft_queue *q, void **items, size_t n,
                                           weft_deadline d);

/* Snapshots (other threads may change them at once), never blocking: the number of
 * items in the queue, the maxsize it was created with, qsize() == 0, and
 * 0 < maxsize <= qsize(). A NULL q reads as an empty unbounded queue. */
WEFT_API size_t weft_queue_qsize(const weft_queue *q);
WEFT_API size_t weft_queue_maxsize(const weft_queue *q);
WEFT_API bool weft_queue_empty(const weft_queue *q);
WEFT_API bool weft_queue_full(const weft_queue *q);

/* Mark one task done: each put counts one unfinished task, each task_done one
 * finished. Never blocks; wakes the joiners when no task is left unfinished. Returns
 * 0, or EINVAL (q NULL, or called more times than items were put: nothing changes). */
WEFT_API int weft_queue_task_done(weft_queue *q);

/* Wait up to timeout_ns until every item put has been marked done (immediately when
 * none is unfinished). Returns 0, ETIMEDOUT (EAGAIN never: timeout 0 is a check that
 * returns ETIMEDOUT) or EINVAL (q NULL); join_until also ECANCELED (d's token fired
 * with tasks unfinished). */
WEFT_API int weft_queue_join(weft_queue *q, int64_t timeout_ns);
WEFT_API int weft_queue_join_until(weft_queue *q, weft_deadline d);

/* Shut the queue down (see the top of this file); `immediate` also discards the items
 * left, counting each as done. May be called again (a later immediate call discards
 * what is left then). Never blocks for long: an immediate shutdown waits only for puts
 * and gets already under way. Wakes every sleeper. Returns 0 or EINVAL (q NULL). */
WEFT_API int weft_queue_shutdown(weft_queue *q, bool immediate);

/* ---- SimpleQueue ------------------------------------------------------------------ */

/* An unbounded FIFO without task tracking or shutdown (Python's queue.SimpleQueue):
 * put never blocks. Built on the same wait-free linked queue as the unbounded
 * weft_queue. */
typedef struct weft_simplequeue weft_simplequeue;

/* Create one into *q. Never blocks. Returns 0, EINVAL (q NULL) or ENOMEM; on
 * failure *q is unchanged. */
WEFT_API int weft_simplequeue_create(weft_simplequeue **q);

/* Free it, dropping the items left. Never blocks. Returns 0, EINVAL (q NULL) or
 * EBUSY (a getter waits in it, spinning or sleeping; nothing is freed). As for
 * weft_queue_destroy, a call that does not wait is not seen: destroying while one
 * may run is the caller's bug. */
WEFT_API int weft_simplequeue_destroy(weft_simplequeue *q);

/* Put `item` at the tail; never blocks. Returns 0, ENOMEM or EINVAL (q NULL). */
WEFT_API int weft_simplequeue_put(weft_simplequeue *q, void *item);

/* Take the oldest item into *item, waiting up to timeout_ns while it is empty.
 * Returns 0, EAGAIN (timeout 0 and empty), ETIMEDOUT or EINVAL (q or item NULL). */
WEFT_API int weft_simplequeue_get(weft_simplequeue *q, void **item, int64_t timeout_ns);
/* As weft_simplequeue_get with an absolute deadline (ETIMEDOUT, never EAGAIN;
 * ECANCELED once d's token has fired with the queue still empty: nothing taken). */
WEFT_API int weft_simplequeue_get_until(weft_simplequeue *q, void **item, weft_deadline d);

/* Snapshots, never blocking: the number of items, and whether it is 0. */
WEFT_API size_t weft_simplequeue_qsize(const weft_simplequeue *q);
WEFT_API bool weft_simplequeue_empty(const weft_simplequeue *q);

/* ---- inline fast paths ------------------------------------------------------------ */
#ifdef WEFT_HAVE_INLINE
/* The next position after `pos` in a ring of `cap` cells. */
#define WEFT__QUEUE_NEXT(pos, cap)                                                         \
    ((uint32_t)((pos)&WEFT__QUEUE_INDEX_MASK) + 1 == (cap)                                 \
         ? (((((pos) >> WEFT__QUEUE_LAP_SHIFT) + 1) & WEFT__QUEUE_LAP_MASK)                \
            << WEFT__QUEUE_LAP_SHIFT)                                                      \
         : (pos) + 1)
#define WEFT__QUEUE_LAP2(pos) ((uint32_t)(((pos) >> WEFT__QUEUE_LAP_SHIFT) << 1))

/* One ring put attempt: 0, EAGAIN (the cell at tail is not free yet, or not a ring),
 * ESHUTDOWN.
 *
 * Lost wakeup avoided: the claim (the CAS on tail) is seq_cst and precedes our load
 * of not_empty.waiters; a getter about to sleep lists itself (seq_cst) and then
 * re-reads tail (seq_cst): either we see it listed and wake it, or it sees our claim
 * and waits for the item instead of sleeping. */
WEFT_INLINE int weft__queue_ring_put(weft_queue *q, void *item)
{
    if (!q->cells)
        return EAGAIN;
    /* relaxed: only picks the cell to try; the cell's sequence decides. */
    uint64_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
    for (;;) {
        if (pos & WEFT__QUEUE_CLOSED)
            return ESHUTDOWN;
        weft__queue_cell *c = &q->cells[(uint32_t)(pos & WEFT__QUEUE_INDEX_MASK)];
        /* acquire: the get that freed the cell has finished reading its item. */
        uint32_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int32_t delta = (int32_t)(seq - WEFT__QUEUE_LAP2(pos));
        if (delta == 0) {
            /* seq_cst: the change half of the not_empty pair (see above). */
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos,
                                                      WEFT__QUEUE_NEXT(pos, q->cap),
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                c->item = item;
                /* release: publishes the item to the get of this lap. */
                atomic_store_explicit(&c->seq, seq + 1, memory_order_release);
                /* seq_cst: the other half of the pair, after our claim. */
                if (atomic_load_explicit(&q->not_empty.waiters, memory_order_seq_cst))
                    weft__waitlist_notify(&q->not_empty, 1);
                return 0;
            }
        } else if (delta < 0) {
            return EAGAIN; /* full: last lap's get has not freed the cell */
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed); /* lost a race */
        }
    }
}

/* One ring get attempt: 0, EAGAIN (the cell at head holds no item yet, or not a
 * ring), ESHUTDOWN (shut down immediately). The mirror of weft__queue_ring_put: the
 * claim on head is the change a sleeping putter re-reads. */
WEFT_INLINE int weft__queue_ring_get(weft_queue *q, void **item)
{
    if (!q->cells)
        return EAGAIN;
    /* relaxed: only picks the cell to try. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    for (;;) {
        if (pos & WEFT__QUEUE_CLOSED)
            return ESHUTDOWN;
        weft__queue_cell *c = &q->cells[(uint32_t)(pos & WEFT__QUEUE_INDEX_MASK)];
        /* acquire: pairs with the put's publishing store; the item is visible. */
        uint32_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        int32_t delta = (int32_t)(seq - (WEFT__QUEUE_LAP2(pos) + 1));
        if (delta == 0) {
            /* seq_cst: the change half of the not_full pair. */
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos,
                                                      WEFT__QUEUE_NEXT(pos, q->cap),
                                                      memory_order_seq_cst,
                                                      memory_order_relaxed)) {
                *item = c->item;
                /* release: our read of the item is done; the next lap's put may write. */
                atomic_store_explicit(&c->seq, seq + 1, memory_order_release);
                /* seq_cst: the other half of the pair, after our claim. */
                if (atomic_load_explicit(&q->not_full.waiters, memory_order_seq_cst))
                    weft__waitlist_notify(&q->not_full, 1);
                return 0;
            }
        } else if (delta < 0) {
            return EAGAIN; /* empty, or this lap's put has not published yet */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed); /* lost a race */
        }
    }
}

WEFT_INLINE int weft_queue_put(weft_queue *q, void *item, int64_t timeout_ns)
{
    if (__builtin_expect(q && weft__queue_ring_put(q, item) == 0, 1))
        return 0;
    return weft__queue_put_slow(q, item, timeout_ns ? weft_deadline_in(timeout_ns) : WEFT_DEADLINE_NEVER,
                                timeout_ns == 0);
}

WEFT_INLINE int weft_queue_put_until(weft_queue *q, void *item, weft_deadline d)
{
    if (__builtin_expect(q && weft__queue_ring_put(q, item) == 0, 1))
        return 0;
    return weft__queue_put_slow(q, item, d, false);
}

WEFT_INLINE int weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns)
{
    if (__builtin_expect(q && item && weft__queue_ring_get(q, item) == 0, 1))
        return 0;
    return weft__queue_get_slow(q, item, timeout_ns ? weft_deadline_in(timeout_ns) : WEFT_DEADLINE_NEVER,
                                timeout_ns == 0);
}

WEFT_INLINE int weft_queue_get_until(weft_queue *q, void **item, weft_deadline d)
{
    if (__builtin_expect(q && item && weft__queue_ring_get(q, item) == 0, 1))
        return 0;
    return weft__queue_get_slow(q, item, d, false);
}
#endif

WEFT_END_DECLS

#endif
