/* LifoQueue and PriorityQueue: an array stack / a binary min-heap under a weft_lock,
 * bounded by maxsize or growing on demand. A heap entry carries an arrival number
 * beside its priority, so equal priorities leave in the order they came (Python's
 * PriorityQueue compares the items themselves and so promises no such order).
 *
 * State, all under `lock`:
 *
 *   closed    false -> true at shutdown: puts fail with ESHUTDOWN
 *   drained   false -> true at an immediate shutdown (after dropping the items):
 *             gets fail with ESHUTDOWN; otherwise gets fail only once len == 0
 *   len       items held; alloc: slots allocated (at most maxsize when bounded)
 *
 * q->tail / q->head count puts and gets; they are written under the lock and read
 * without it by qsize and by task accounting.
 *
 * Lost wakeups: a sleeper's re-check and a notifier's change both happen under the
 * lock, so one critical section precedes the other: if the re-check came first, the
 * sleeper's announcement happened before the notifier's critical section and the
 * notifier's later waiters load sees it; otherwise the re-check sees the change. */
#include "heap.h"
#include "queue_internal.h"

#include <stdlib.h>

typedef struct wf_prio_entry {
    int64_t prio;
    uint64_t arrival; /* ties broken first come, first served */
    void *item;
} wf_prio_entry;

typedef struct wf_locked {
    weft_lock lock;
    bool closed, drained;
    size_t len, alloc;
    uint64_t arrivals;
    void **stack;        /* WEFT_LIFO */
    wf_prio_entry *heap; /* WEFT_PRIORITY */
} wf_locked;

enum { WF_LOCKED_MIN_ALLOC = 16 };

static wf_locked *wf_locked_of(const weft_queue *q)
{
    return q->state;
}

/* ---- storage ---------------------------------------------------------------------- */

/* Resizes the array to `alloc` slots (>= len). Returns false when out of memory. */
static bool wf_locked_resize(weft_queue *q, wf_locked *s, size_t alloc)
{
    if (q->kind == WEFT_LIFO) {
        void **a = realloc(s->stack, alloc * sizeof *a);
        if (!a)
            return false;
        s->stack = a;
    } else {
        wf_prio_entry *a = realloc(s->heap, alloc * sizeof *a);
        if (!a)
            return false;
        s->heap = a;
    }
    s->alloc = alloc;
    return true;
}

static bool wf_locked_reserve(weft_queue *q, wf_locked *s, size_t need)
{
    if (need <= s->alloc)
        return true;
    size_t alloc = s->alloc ? s->alloc : WF_LOCKED_MIN_ALLOC;
    while (alloc < need)
        alloc = alloc > SIZE_MAX / 2 ? need : alloc * 2;
    if (q->maxsize && alloc > q->maxsize)
        alloc = q->maxsize;
    return wf_locked_resize(q, s, alloc);
}

/* The heap's order: lowest priority first, then first come, first served. */
static bool wf_prio_before(const void *a, const void *b)
{
    const wf_prio_entry *x = a, *y = b;
    return x->prio < y->prio || (x->prio == y->prio && x->arrival < y->arrival);
}

static const wf_heap_ops wf_prio_heap = {
    .size = sizeof(wf_prio_entry), .before = wf_prio_before, .placed = NULL};

/* Adds k to one of q's counters; the caller holds the lock (the only writers). */
static void wf_locked_count(_Atomic uint64_t *counter, size_t k)
{
    /* relaxed: written under the lock; readers outside it take a snapshot, and a put
     * or get that happened before their call is ordered before it by the caller. */
    atomic_store_explicit(counter, atomic_load_explicit(counter, memory_order_relaxed) + k,
                          memory_order_relaxed);
}

/* ---- put / get -------------------------------------------------------------------- */

static ssize_t wf_locked_put(weft_queue *q, wf_queue_op *op, bool recheck)
{
    (void)recheck; /* the lock orders the re-check (see the top of this file) */
    wf_locked *s = wf_locked_of(q);
    weft_lock_acquire(&s->lock);
    if (s->closed) {
        weft_lock_release(&s->lock);
        return -ESHUTDOWN;
    }
    size_t k = op->n;
    if (q->maxsize) {
        size_t room = q->maxsize - s->len;
        if (room == 0) {
            weft_lock_release(&s->lock);
            return -EAGAIN;
        }
        if (k > room)
            k = room;
    }
    if (!wf_locked_reserve(q, s, s->len + k)) {
        weft_lock_release(&s->lock);
        return -ENOMEM;
    }
    for (size_t i = 0; i < k; i++) {
        if (q->kind == WEFT_LIFO)
            s->stack[s->len++] = op->in[i];
        else
            wf_heap_push(&wf_prio_heap, s->heap, &s->len,
                         &(wf_prio_entry){op->prio, s->arrivals++, op->in[i]});
    }
    wf_locked_count(&q->tail, k);
    weft_lock_release(&s->lock);
    /* Lost wakeup avoided: the lock ordered our push against a sleeper's re-check. */
    wf_waitlist_notify(&q->not_empty, k > INT_MAX ? INT_MAX : (int)k);
    return (ssize_t)k;
}

static ssize_t wf_locked_get(weft_queue *q, wf_queue_op *op, bool recheck)
{
    (void)recheck;
    wf_locked *s = wf_locked_of(q);
    weft_lock_acquire(&s->lock);
    if (s->drained || s->len == 0) {
        ssize_t r = s->drained || s->closed ? -ESHUTDOWN : -EAGAIN;
        weft_lock_release(&s->lock);
        return r;
    }
    size_t k = op->n < s->len ? op->n : s->len;
    for (size_t i = 0; i < k; i++) {
        if (q->kind == WEFT_LIFO) {
            op->out[i] = s->stack[--s->len];
        } else {
            wf_prio_entry first;
            wf_heap_pop(&wf_prio_heap, s->heap, &s->len, &first);
            op->out[i] = first.item;
        }
    }
    /* Give memory back after a burst (bounded queues keep theirs). */
    if (!q->maxsize && s->alloc > 4 * WF_LOCKED_MIN_ALLOC && s->len < s->alloc / 4)
        wf_locked_resize(q, s, s->alloc / 2);
    wf_locked_count(&q->head, k);
    weft_lock_release(&s->lock);
    if (q->maxsize)
        wf_waitlist_notify(&q->not_full, k > INT_MAX ? INT_MAX : (int)k);
    return (ssize_t)k;
}

/* ---- the rest ----------------------------------------------------------------- */

static bool wf_locked_can_get(const weft_queue *q)
{
    /* relaxed: a snapshot (a hint for passing a wakeup on). */
    return atomic_load_explicit(&q->tail, memory_order_relaxed) !=
           atomic_load_explicit(&q->head, memory_order_relaxed);
}

static bool wf_locked_can_put(const weft_queue *q)
{
    /* relaxed: a snapshot, as above. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return q->maxsize == 0 || tail - head < q->maxsize;
}

static size_t wf_locked_qsize(const weft_queue *q)
{
    /* relaxed: a snapshot; head first, so the later tail is not behind it. */
    uint64_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    return tail >= head ? (size_t)(tail - head) : 0;
}

static uint64_t wf_locked_puts(const weft_queue *q)
{
    /* seq_cst: task accounting's half of the all_done pair (see queue.c). */
    return atomic_load_explicit(&q->tail, memory_order_seq_cst);
}

static uint64_t wf_locked_shutdown(weft_queue *q, bool immediate)
{
    wf_locked *s = wf_locked_of(q);
    weft_lock_acquire(&s->lock);
    s->closed = true;
    size_t n = 0;
    if (immediate && !s->drained) {
        n = s->len;
        s->len = 0;
        s->drained = true;
        wf_locked_count(&q->head, n);
    }
    weft_lock_release(&s->lock);
    return n;
}

static int wf_locked_init(weft_queue *q)
{
    wf_locked *s = calloc(1, sizeof *s);
    if (!s)
        return ENOMEM;
    q->state = s;
    return 0;
}

static void wf_locked_fini(weft_queue *q)
{
    wf_locked *s = wf_locked_of(q);
    free(s->stack);
    free(s->heap);
    free(s);
}

const wf_queue_impl wf_queue_locked_impl = {
    .init = wf_locked_init,
    .fini = wf_locked_fini,
    .put = wf_locked_put,
    .get = wf_locked_get,
    .can_put = wf_locked_can_put,
    .can_get = wf_locked_can_get,
    .qsize = wf_locked_qsize,
    .puts = wf_locked_puts,
    .shutdown = wf_locked_shutdown,
};
