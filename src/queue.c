/* The queue family's shared half: create/destroy, the blocking loop, task
 * accounting (task_done / join) and shutdown. The kinds live in
 * queue_ring.c (bounded FIFO), queue_linked.c (unbounded FIFO, SimpleQueue) and
 * queue_locked.c (LIFO, PRIORITY); the public layout and state tables are in
 * include/weft/queue.h.
 *
 * Task accounting: there is no "unfinished" counter to update on every put. The
 * implementation counts puts anyway (the ring's tail position, the others' put
 * counter), so unfinished = puts - done, both modulo q->count_mod (the ring's
 * positions wrap after 2^31 laps). task_done advances `done` by CAS, refusing to pass
 * puts; join waits on the all_done wait list for the two to meet.
 *
 * Lost wakeups: every sleep goes through the wait-list protocol of the waiting core
 * (src/waiting.h: list, re-check with seq_cst loads, sleep until woken).
 *
 * Destroy: a thread counts itself in q->waiting from before its first spin to after
 * its last touch of q (the blocking loop, join, and the peer waits inside the
 * kinds' attempts), so destroy refuses while any thread waits; see
 * queue_internal.h.
 *
 * Cancellation (weft/cancel.h): the blocking loop and join look at the deadline's
 * token whenever they would wait, and unwind on it as on a timeout, ECANCELED
 * instead of ETIMEDOUT: nothing moved, a spent wakeup passed on as a timeout's is.
 *
 * Wait for any: the queue's source (get and put) for weft_wait_any is at the end
 * (src/select_internal.h describes the moves). */
#include "queue_internal.h"
#include "select_internal.h"

#include <stdlib.h>
#include <string.h>

extern inline int weft__queue_ring_put(weft_queue *q, void *item);
extern inline int weft__queue_ring_get(weft_queue *q, void **item);
extern inline int weft_queue_put(weft_queue *q, void *item, int64_t timeout_ns);
extern inline int weft_queue_put_until(weft_queue *q, void *item, weft_deadline d);
extern inline int weft_queue_get(weft_queue *q, void **item, int64_t timeout_ns);
extern inline int weft_queue_get_until(weft_queue *q, void **item, weft_deadline d);

static const wf_queue_impl *const wf_impls[] = {
    [WF_QUEUE_RING] = &wf_queue_ring_impl,
    [WF_QUEUE_LINKED] = &wf_queue_linked_impl,
    [WF_QUEUE_LOCKED] = &wf_queue_locked_impl,
};

static const wf_queue_impl *wf_impl(const weft_queue *q)
{
    return wf_impls[q->impl];
}

/* ---- the blocking loop --------------------------------------------------------- */

ssize_t wf_queue_block(weft_queue *q, wf_queue_attempt *attempt, wf_queue_op *op,
                       wf_waitlist *e, bool (*can_again)(const weft_queue *),
                       weft_deadline d, bool nowait)
{
    ssize_t r = attempt(q, op, false);
    if (r != -EINPROGRESS && (r != -EAGAIN || nowait))
        return r; /* moved, failed for good, or would block and may not: no wait */
    wf_queue_enter(q);
    /* Spin first: a peer on another core usually fills or drains within a few
     * hundred nanoseconds, far less than a sleep and a wake cost. The policy's
     * exponential backoff between attempts leaves the peer the cells' cache lines,
     * so it moves a run of items before we look again (one miss per run, not one
     * per item). A peer half way through its put or get is running: wait for it,
     * never sleep on it. */
    wf_spinner spin = wf_spinner_start(WF_SPIN_QUEUE);
    wf_spinner peer = wf_spinner_start(WF_SPIN_PEER);
    bool token = false; /* a notifier spent a wakeup on us */
    for (;;) {
        if (r == -EINPROGRESS) {
            wf_spin(&peer);
        } else if (r != -EAGAIN || nowait) {
            break;
        } else if (wf_cancelled(d)) {
            /* The token (weft/cancel.h), looked at before each spin step, and so
             * after each sleep: give up as on a timeout. The attempt just made moved
             * nothing, so a wakeup spent on us leaves nothing to pass on. */
            r = -ECANCELED;
            break;
        } else if (!wf_spin(&spin)) {
            wf_waiter w;
            wf_waitlist_prepare(e, &w);
            r = attempt(q, op, true);
            if (r == -EAGAIN && !weft_deadline_passed(d)) {
                /* Lost wakeup avoided: the re-check above followed our listing, a
                 * notifier's change precedes its look at waiters (src/waiting.h). */
                if (wf_waiter_sleep(&w, d) || wf_waitlist_cancel(e, &w))
                    token = true;
            } else {
                if (wf_waitlist_cancel(e, &w))
                    token = true;
                if (r == -EAGAIN) {
                    r = wf_cancel_result_neg(-ETIMEDOUT, d);
                    break;
                }
                continue; /* moved, failed, or a peer half way: decided above */
            }
        }
        r = attempt(q, op, false);
    }
    /* A wakeup spent on us may have been meant for a change we did not use (our
     * re-check succeeded on another, or in the ring the item or free cell sits past
     * the position we looked at): while more could move, pass one on. */
    if (token && r > 0 && can_again(q))
        wf_waitlist_notify(e, 1);
    wf_queue_leave(q); /* our last touch of q */
    return r;
}

/* ---- create / destroy ---------------------------------------------------------- */

weft_queue *wf_queue_alloc(size_t bytes, size_t maxsize, int kind, int *err)
{
    void *mem;
    if (posix_memalign(&mem, WF_CACHE_LINE, bytes) != 0) {
        *err = ENOMEM;
        return NULL;
    }
    memset(mem, 0, bytes);
    weft_queue *q = mem;
    q->kind = kind;
    q->maxsize = maxsize;
    if (kind != WEFT_FIFO)
        q->impl = WF_QUEUE_LOCKED;
    else if (maxsize >= 1 && maxsize <= WEFT_QUEUE_RING_MAX)
        q->impl = WF_QUEUE_RING;
    else
        q->impl = WF_QUEUE_LINKED;
    /* Counters wrap modulo count_mod: the ring's lap field holds 31 bits; the
     * others count in 63 bits beside the CLOSED bit. */
    q->count_mod = q->impl == WF_QUEUE_RING ? (uint64_t)maxsize << 31 : WEFT__QUEUE_CLOSED;
    *err = wf_impl(q)->init(q);
    if (*err != 0) {
        free(q);
        return NULL;
    }
    return q;
}

bool wf_queue_busy(const weft_queue *q)
{
    /* acquire: pairs with the release of each thread leaving a waiting loop, so a
     * thread seen gone has finished with q before we free it. A thread that has not
     * entered yet is on a path that waits for nothing: the caller's race (see
     * weft/queue.h). relaxed for the wait lists: their sleepers are counted in
     * `waiting` too; this is the same snapshot taken twice. */
    return atomic_load_explicit(&q->waiting, memory_order_acquire) != 0 ||
           wf_waitlist_has_waiters(&q->not_empty) || wf_waitlist_has_waiters(&q->not_full) ||
           wf_waitlist_has_waiters(&q->all_done);
}

void wf_queue_free(weft_queue *q)
{
    wf_impl(q)->fini(q);
    free(q);
}

int weft_queue_create(weft_queue **q, size_t maxsize, int kind)
{
    if (!q || (kind != WEFT_FIFO && kind != WEFT_LIFO && kind != WEFT_PRIORITY))
        return EINVAL;
    int err;
    weft_queue *made = wf_queue_alloc(sizeof(weft_queue), maxsize, kind, &err);
    if (made)
        *q = made; /* only on success: a failed create leaves *q as it was */
    return err;
}

int weft_queue_destroy(weft_queue *q)
{
    if (!q)
        return EINVAL;
    if (wf_queue_busy(q))
        return EBUSY;
    wf_queue_free(q);
    return 0;
}

/* ---- put / get ------------------------------------------------------------------ */

static int wf_single_result(ssize_t r)
{
    return r > 0 ? 0 : (int)-r;
}

static ssize_t wf_put(weft_queue *q, wf_queue_op *op, weft_deadline d, bool nowait)
{
    const wf_queue_impl *impl = wf_impl(q);
    /* Every kind: a put happens before the gets after it, told to TSan on the
     * queue (src/tsan.h; the ring also tells it per cell, for its inline paths). */
    wf_tsan_release(&q->tail);
    return wf_queue_block(q, impl->put, op, &q->not_full, impl->can_put, d, nowait);
}

static ssize_t wf_get(weft_queue *q, wf_queue_op *op, weft_deadline d, bool nowait)
{
    const wf_queue_impl *impl = wf_impl(q);
    ssize_t r = wf_queue_block(q, impl->get, op, &q->not_empty, impl->can_get, d, nowait);
    if (r > 0)
        wf_tsan_acquire(&q->tail); /* see wf_put */
    return r;
}

int weft__queue_put_slow(weft_queue *q, void *item, weft_deadline d, bool nowait)
{
    if (!q)
        return EINVAL;
    wf_queue_op op = {.in = &item, .n = 1};
    return wf_single_result(wf_put(q, &op, d, nowait));
}

int weft__queue_get_slow(weft_queue *q, void **item, weft_deadline d, bool nowait)
{
    if (!q || !item)
        return EINVAL;
    wf_queue_op op = {.out = item, .n = 1};
    return wf_single_result(wf_get(q, &op, d, nowait));
}

static int wf_put_prio(weft_queue *q, int64_t prio, void *item, weft_deadline d, bool nowait)
{
    if (!q || q->kind != WEFT_PRIORITY)
        return EINVAL;
    wf_queue_op op = {.in = &item, .n = 1, .prio = prio};
    return wf_single_result(wf_put(q, &op, d, nowait));
}

int weft_queue_put_prio(weft_queue *q, int64_t prio, void *item, int64_t timeout_ns)
{
    return wf_put_prio(q, prio, item, weft_deadline_in(timeout_ns), timeout_ns == 0);
}

int weft_queue_put_prio_until(weft_queue *q, int64_t prio, void *item, weft_deadline d)
{
    return wf_put_prio(q, prio, item, d, false);
}

static ssize_t wf_put_many(weft_queue *q, void *const *items, size_t n, weft_deadline d,
                           bool nowait)
{
    if (!q || (!items && n > 0))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    wf_queue_op op = {.in = items, .n = n};
    return wf_put(q, &op, d, nowait);
}

ssize_t weft_queue_put_many(weft_queue *q, void *const *items, size_t n, int64_t timeout_ns)
{
    return wf_put_many(q, items, n, weft_deadline_in(timeout_ns), timeout_ns == 0);
}

ssize_t weft_queue_put_many_until(weft_queue *q, void *const *items, size_t n, weft_deadline d)
{
    return wf_put_many(q, items, n, d, false);
}

static ssize_t wf_get_many(weft_queue *q, void **items, size_t n, weft_deadline d, bool nowait)
{
    if (!q || (!items && n > 0))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    wf_queue_op op = {.out = items, .n = n};
    return wf_get(q, &op, d, nowait);
}

ssize_t weft_queue_get_many(weft_queue *q, void **items, size_t n, int64_t timeout_ns)
{
    return wf_get_many(q, items, n, weft_deadline_in(timeout_ns), timeout_ns == 0);
}

ssize_t weft_queue_get_many_until(weft_queue *q, void **items, size_t n, weft_deadline d)
{
    return wf_get_many(q, items, n, d, false);
}

/* ---- snapshots ------------------------------------------------------------------ */

size_t weft_queue_qsize(const weft_queue *q)
{
    return q ? wf_impl(q)->qsize(q) : 0;
}

size_t weft_queue_maxsize(const weft_queue *q)
{
    return q ? q->maxsize : 0;
}

bool weft_queue_empty(const weft_queue *q)
{
    return weft_queue_qsize(q) == 0;
}

bool weft_queue_full(const weft_queue *q)
{
    return q && q->maxsize > 0 && weft_queue_qsize(q) >= q->maxsize;
}

/* ---- tasks ------------------------------------------------------------------------ */

/* Items put and not yet marked done. seq_cst loads: the joiner's re-check half of the
 * all_done pair (task_done's half is its seq_cst CAS on done). */
static uint64_t wf_unfinished(const weft_queue *q)
{
    uint64_t done = atomic_load_explicit(&q->done, memory_order_seq_cst);
    uint64_t puts = wf_impl(q)->puts(q);
    return puts >= done ? puts - done : puts + q->count_mod - done;
}

/* Adds k to done (mod count_mod), at most up to puts; wakes the joiners if that
 * leaves nothing unfinished. Returns how many it added. */
static uint64_t wf_mark_done(weft_queue *q, uint64_t k)
{
    /* relaxed: the CAS below re-validates. */
    uint64_t done = atomic_load_explicit(&q->done, memory_order_relaxed);
    for (;;) {
        uint64_t puts = wf_impl(q)->puts(q);
        uint64_t open = puts >= done ? puts - done : puts + q->count_mod - done;
        uint64_t add = k < open ? k : open;
        if (add == 0)
            return 0;
        uint64_t next = done + add;
        if (next >= q->count_mod)
            next -= q->count_mod;
        /* seq_cst: the change half of the all_done wait list, before the waiters
         * load in wf_waitlist_notify; release also publishes the task's work to join. */
        if (atomic_compare_exchange_weak_explicit(&q->done, &done, next, memory_order_seq_cst,
                                                  memory_order_relaxed)) {
            if (wf_unfinished(q) == 0)
                wf_waitlist_notify(&q->all_done, INT_MAX);
            return add;
        }
    }
}

int weft_queue_task_done(weft_queue *q)
{
    if (!q)
        return EINVAL;
    return wf_mark_done(q, 1) == 1 ? 0 : EINVAL;
}

int weft_queue_join_until(weft_queue *q, weft_deadline d)
{
    if (!q)
        return EINVAL;
    if (wf_unfinished(q) == 0)
        return 0;
    if (weft_deadline_passed(d))
        return wf_cancel_result(ETIMEDOUT, d);
    wf_queue_enter(q);
    int r;
    for (;;) {
        wf_waiter w;
        wf_waitlist_prepare(&q->all_done, &w);
        /* Lost wakeup avoided: this re-check follows our listing (src/waiting.h);
         * the last task_done's CAS precedes its waiters load. */
        if (wf_unfinished(q) == 0 || !wf_waiter_sleep(&w, d))
            wf_waitlist_cancel(&q->all_done, &w);
        if (wf_unfinished(q) == 0) {
            r = 0;
            break;
        }
        if (weft_deadline_passed(d)) {
            r = wf_cancel_result(ETIMEDOUT, d);
            break;
        }
    }
    wf_queue_leave(q); /* our last touch of q */
    return r;
}

int weft_queue_join(weft_queue *q, int64_t timeout_ns)
{
    return weft_queue_join_until(q, weft_deadline_in(timeout_ns));
}

/* ---- shutdown ------------------------------------------------------------------- */

int weft_queue_shutdown(weft_queue *q, bool immediate)
{
    if (!q)
        return EINVAL;
    /* An immediate shutdown may wait for puts and gets under way: it counts as
     * waiting throughout. */
    wf_queue_enter(q);
    uint64_t discarded = wf_impl(q)->shutdown(q, immediate);
    if (discarded)
        wf_mark_done(q, discarded);
    /* Every sleeper re-checks: putters and getters see the CLOSED bits (our seq_cst
     * RMWs that set them precede the waiters loads of these notifies, as any change
     * does), joiners the discarded tasks. */
    wf_waitlist_notify(&q->not_full, INT_MAX);
    wf_waitlist_notify(&q->not_empty, INT_MAX);
    wf_waitlist_notify(&q->all_done, INT_MAX);
    wf_queue_leave(q); /* our last touch of q */
    return 0;
}

/* ---- wait for any: queue get / put ---------------------------------------------
 * Sleepers list a waiter on the queue's wait list (not_empty for a get, not_full for
 * a put) and sleep on its state word. A notifier unlists the waiter it wakes: the
 * wakeup is a token, passed on by a waiter that leaves while more could move, as
 * wf_queue_block does. weft_wait_any looks at its deadline's token itself. */

static bool wf_source_is_get(const weft_source *s)
{
    return s->kind == WEFT_SOURCE_QUEUE_GET;
}

static wf_waitlist *wf_source_list(const weft_source *s)
{
    return wf_source_is_get(s) ? &s->queue->not_empty : &s->queue->not_full;
}

static bool wf_source_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    weft_queue *q = s->queue;
    const wf_queue_impl *impl = wf_impl(q);
    wf_queue_op op = {.n = 1};
    if (wf_source_is_get(s))
        op.out = &s->item;
    else
        op.in = &s->item;
    wf_spinner peer = wf_spinner_start(WF_SPIN_PEER);
    for (;;) {
        ssize_t r = (wf_source_is_get(s) ? impl->get : impl->put)(q, &op, flags & WF_TRY_RECHECK);
        if (r == -EINPROGRESS) { /* a peer half way through its put or get: it runs */
            wf_spin(&peer);
            continue;
        }
        if (r == -EAGAIN)
            return false;
        s->result = r > 0 ? 0 : (int)-r;
        return true;
    }
}

static int wf_source_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                             const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)flags;
    (void)room;
    /* Lost wakeup avoided: listing (seq_cst) comes before the re-check that follows
     * every prepare (WF_TRY_RECHECK: seq_cst loads), and a notifier's change comes
     * before its look at the list (src/waiting.h); a notifier that finds us stores
     * WOKEN in our record before it wakes its word, and we sleep only while it
     * reads LISTED. */
    wf_waitlist_prepare(wf_source_list(s), &slot->waiter);
    words[0] = &slot->waiter.state;
    expected[0] = WF_WAITER_LISTED;
    return 1;
}

static void wf_source_abandon(weft_source *s, wf_select_slot *slot, bool won, bool slept)
{
    (void)won;
    (void)slept;
    wf_waitlist *wl = wf_source_list(s);
    const wf_queue_impl *impl = wf_impl(s->queue);
    bool token = wf_waitlist_cancel(wl, &slot->waiter);
    /* A wakeup spent on us that we did not use (or, having won, a change beyond the
     * one we used): while more could move, pass one on, as wf_queue_block does. */
    if (token && (wf_source_is_get(s) ? impl->can_get : impl->can_put)(s->queue))
        wf_waitlist_notify(wl, 1);
}

const wf_source_ops wf_queue_ops = {NULL, wf_source_try, wf_source_prepare,
                                    wf_source_abandon, wf_one_word};
