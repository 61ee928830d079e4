/* weft_pool: a work-stealing thread pool (Python's ThreadPoolExecutor).
 *
 * A task is its future (src/pool_internal.h): one allocation per submit; a post
 * is a future nobody else holds. Where tasks wait:
 *  - each worker owns a Chase-Lev deque of fixed size (Chase and Lev 2005, with the
 *    C11 orders of Le, Pop, Cohen and Zappa Nardelli 2013; each of the paper's
 *    seq_cst fences is a seq_cst store, load or RMW here, which TSan understands);
 *    the owner pushes and takes at the bottom, thieves take the oldest at the top.
 *    A worker's own submits go there; a full deque spills into the injection queue;
 *  - the injection queue takes every other submit: an unbounded queue of task
 *    pointers in linked segments of WF_SEG_SLOTS (crossbeam's SegQueue: a producer
 *    claims a position with a CAS on the tail, then writes its slot), drained by one
 *    worker at a time, under the queue's lock, in batches that go to the taker's
 *    deque, where others steal them. A linked list of the tasks themselves would
 *    cost the consumer one dependent cache miss per task (each task written by
 *    another core); slots are read in order, and the tasks of a batch are
 *    prefetched so their misses overlap. The queue is sharded WF_INJECT_SHARDS
 *    ways, each submitting thread pushing to one shard (FIFO per submitter), so
 *    that several submitters do not contend on one tail line.
 *
 * Sleeping (Go's scheduler, "spinning" threads): a worker with nothing to do becomes
 * a searcher (at most max_searching at once) and polls every queue for a while,
 * then parks: it links itself on the idle list, counts itself in n_parked, looks
 * at every queue once more, and only then sleeps on its own `park` word. A submit
 * pushes, then wakes a parked worker only if nobody searches and somebody is parked
 * (two loads, no system call in the common case), and counts the woken worker as a
 * searcher on its behalf, so a burst of submits wakes one worker, not many. A
 * searcher that finds work stops searching and, if it was the last one, wakes the
 * next, so wakeups chain only as far as the work goes.
 *
 * The Dekker pairs (each side: a seq_cst write, then a seq_cst read of the other's
 * variable, so at least one side sees the other):
 *   submit:  push task       -> read n_searching, n_parked (wf_pool_notify)
 *   parking: n_parked += 1   -> read every queue             (wf_park)
 *   stop searching: n_searching -= 1 -> read every queue     (wf_stop_searching)
 *   submit:  push task       -> read `closed`   (then the submitter runs leftovers)
 *   exit:    read `closed`   -> read every queue (a worker leaves only when empty)
 * Invariant: no task waits in a queue while every worker sleeps, and no worker
 * leaves while a task accepted before the shutdown waits.
 *
 * A worker that waits on a future of its own pool (wf_pool_help_until) keeps
 * running tasks, its own deque first; when there is none it parks as above, with a
 * watch on the future that changes its park word when the future is done.
 */
#include "pool_internal.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WF_DEQUE_SIZE = 256,       /* per worker; a power of two */
    WF_SEG_SLOTS = 63,         /* task slots of an injection queue segment */
    WF_LAP = 64,               /* positions per segment: the last one is never used */
    WF_BATCH = 32,             /* most tasks moved from the injection queue at once */
    WF_FAIRNESS_TICKS = 61,    /* every so many tasks the injection queue goes first */
    WF_SEARCH_ROUNDS = 64,     /* polls of every queue by a searcher before it parks */
    WF_SEARCH_PAUSES = 32,     /* cpu pauses between two polls */
    WF_MAX_WORKERS = 65535,
    WF_MAX_PENDING = 1u << 30, /* larger bounds are as good as none */
    WF_BACKLOG = 1 << 14,      /* queued tasks past which a producer yields its core */
    WF_INJECT_SHARDS = 4,      /* injection queue shards; a power of two */
};

/* `closed` bits: once set, never cleared. */
#define WF_POOL_SHUTDOWN 1u /* submits fail with ESHUTDOWN; idle workers leave */
#define WF_POOL_CANCEL 2u   /* pending tasks are cancelled, not run */
#define WF_POOL_BROKEN 4u   /* an initializer failed: submits fail with EPIPE, pending
                               tasks end with error EPIPE, idle workers leave */

/* A worker's `park` word. State table:
 *   EMPTY     not parked
 *   PARKED    on the idle list, may sleep on this word
 *   NOTIFIED  woken: by a notifier that took it off the idle list (it then counts
 *             as searching), by shutdown, or by a watched future becoming done
 * Every change is an exchange (acq_rel), so each changer synchronizes with the
 * previous one; the worker sleeps only while the word reads PARKED. */
#define WF_PARK_EMPTY 0u
#define WF_PARK_PARKED 1u
#define WF_PARK_NOTIFIED 2u

/* Chase-Lev deque. top and bottom only grow (int64_t never wraps in practice);
 * the task at index i lives in slots[i % WF_DEQUE_SIZE]; it holds bottom - top
 * tasks when that is positive. */
struct wf_deque {
    _Atomic int64_t top; /* thieves CAS it */
    char pad0[64 - sizeof(int64_t)];
    _Atomic int64_t bottom; /* written by the owner only */
    char pad1[64 - sizeof(int64_t)];
    _Atomic(weft_future *) slots[WF_DEQUE_SIZE];
};

struct wf_worker {
    struct wf_deque deque;
    _Atomic uint32_t park __attribute__((aligned(64)));
    struct weft_pool *pool __attribute__((aligned(64)));
    weft_thread thread;
    uint32_t index;
    uint32_t rng;  /* xorshift state: where stealing starts */
    uint32_t tick; /* tasks taken, for WF_FAIRNESS_TICKS */
    bool joined;   /* under the pool's join_lock */
    /* Under the pool's idle_lock: */
    bool in_idle;
    struct wf_worker *idle_next;
};

/* One shard of the injection queue: producers claim positions at the tail; one
 * consumer at a time takes them at the head, under the shard's lock. Position i is
 * slot i % WF_LAP of segment i / WF_LAP; a tail at slot WF_SEG_SLOTS means the
 * producer that took a segment's last slot is installing the next segment. */
struct wf_inject {
    _Atomic uint64_t tail __attribute__((aligned(64)));
    _Atomic(struct wf_seg *) tail_seg; /* the segment of the tail's lap */
    _Atomic uint64_t head __attribute__((aligned(64))); /* written under the lock */
    struct wf_seg *head_seg;                            /* under lock */
    weft_lock lock;
    _Atomic(struct wf_seg *) spare_seg; /* one used segment kept for the next lap */
};

struct weft_pool {
    /* Set at creation, read-only after. */
    uint32_t max_workers;
    uint32_t max_searching;
    uint32_t max_pending; /* 0: no bound */
    int (*initializer)(void *);
    void *initializer_arg;
    char *prefix;
    struct wf_worker **workers; /* max_workers slots; [0, n_workers) are set */

    _Atomic uint32_t closed __attribute__((aligned(64)));
    _Atomic uint32_t n_workers; /* published with release after workers[n] is set */

    /* The injection queue, in shards: a submitting thread always pushes to the same
     * one (wf_inject_shard), so submitters on different cores do not fight over
     * one tail; workers take from every shard. */
    struct wf_inject inject[WF_INJECT_SHARDS];

    /* Idle workers. */
    _Atomic uint32_t n_searching __attribute__((aligned(64)));
    _Atomic uint32_t n_parked; /* changed under idle_lock, read anywhere */
    _Atomic uint32_t idle_tokens; /* Python's _idle_semaphore: spawn only without one */
    weft_lock idle_lock;
    struct wf_worker *idle; /* under idle_lock: parked workers */

    /* max_pending: tasks submitted and not yet claimed. */
    _Atomic uint32_t pending __attribute__((aligned(64)));
    _Atomic uint32_t room_waiters;

    weft_lock spawn_lock; /* starting a worker; shutdown's final n_workers */
    weft_lock join_lock;  /* joining the workers */
};

/* The worker the calling thread is, if any. initial-exec: no __tls_get_addr call
 * in the shared library (it takes static TLS space, a pointer). */
static _Thread_local struct wf_worker *wf_self __attribute__((tls_model("initial-exec")));

static _Atomic uint32_t wf_pool_counter; /* numbers default prefixes */

/* A segment of the injection queue; a slot is NULL until its producer writes it. */
struct wf_seg {
    _Atomic(weft_future *) slots[WF_SEG_SLOTS];
    _Atomic(struct wf_seg *) next; /* set before the last slot is written */
};

/* ---- the deque: owner side --------------------------------------------------------- */

/* Push at the bottom; false when full. */
static bool wf_deque_push(struct wf_deque *q, weft_future *f)
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

/* Push fs[0..n-1] at the bottom with one store of bottom, fs[0] nearest the bottom
 * (taken first by the owner); the caller has checked there is room. */
static void wf_deque_push_batch(struct wf_deque *q, weft_future *const *fs, int n)
{
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_relaxed); /* ours alone */
    for (int i = 0; i < n; i++)
        /* relaxed: published by the store of bottom below. */
        atomic_store_explicit(&q->slots[(b + n - 1 - i) & (WF_DEQUE_SIZE - 1)], fs[i],
                              memory_order_relaxed);
    /* seq_cst: as in wf_deque_push. */
    atomic_store_explicit(&q->bottom, b + n, memory_order_seq_cst);
}

/* Take the newest task at the bottom; NULL when empty. */
static weft_future *wf_deque_take(struct wf_deque *q)
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

/* ---- the deque: thief side ------------------------------------------------------------ */

/* Take the oldest task at the top; NULL when empty or when a race was lost (then
 * *lost is set: the deque may still hold tasks). Any thread may steal. */
static weft_future *wf_deque_steal(struct wf_deque *q, bool *lost)
{
    /* seq_cst loads: the paper's acquire loads with the fence between them. The
     * load of bottom acquires the owner's push (slot and task). */
    int64_t t = atomic_load_explicit(&q->top, memory_order_seq_cst);
    int64_t b = atomic_load_explicit(&q->bottom, memory_order_seq_cst);
    if (t >= b)
        return NULL;
    /* relaxed: the slot may be stale only if top moved, and then the CAS fails. */
    weft_future *f =
        atomic_load_explicit(&q->slots[t & (WF_DEQUE_SIZE - 1)], memory_order_relaxed);
    /* seq_cst: as in the paper; it decides between thieves and the owner's last take. */
    if (!atomic_compare_exchange_strong_explicit(&q->top, &t, t + 1, memory_order_seq_cst,
                                                 memory_order_relaxed)) {
        *lost = true;
        return NULL;
    }
    return f;
}

/* True if the deque holds a task (for the final look before sleeping). */
static bool wf_deque_nonempty(struct wf_deque *q)
{
    /* seq_cst: the second half of the parking Dekker (see the top of the file). */
    return atomic_load_explicit(&q->bottom, memory_order_seq_cst) >
           atomic_load_explicit(&q->top, memory_order_seq_cst);
}

/* ---- the injection queue -------------------------------------------------------------- */

/* A cleared segment: the spare one, or a new one. */
static struct wf_seg *wf_seg_new(struct wf_inject *q)
{
    /* acquire: the consumer that parked it there is done with it. */
    struct wf_seg *seg = atomic_exchange_explicit(&q->spare_seg, NULL, memory_order_acquire);
    if (!seg && !(seg = aligned_alloc(64, sizeof *seg)))
        return NULL;
    for (int i = 0; i < WF_SEG_SLOTS; i++)
        atomic_init(&seg->slots[i], NULL);
    atomic_init(&seg->next, NULL);
    return seg;
}

static void wf_seg_recycle(struct wf_inject *q, struct wf_seg *seg)
{
    /* acq_rel: hands seg over to the next wf_seg_new (release) and takes over the
     * one it replaces (acquire) to free it. */
    free(atomic_exchange_explicit(&q->spare_seg, seg, memory_order_acq_rel));
}

/* The shard the calling thread pushes to: threads take shards in turn, at their
 * first submit, so up to WF_INJECT_SHARDS submitters each have their own tail. */
static struct wf_inject *wf_inject_shard(struct weft_pool *p)
{
    static _Atomic uint32_t next_shard;
    /* initial-exec: as wf_self. */
    static _Thread_local uint32_t shard_plus_one /* 0: not chosen yet */
        __attribute__((tls_model("initial-exec")));
    if (!shard_plus_one)
        /* relaxed: only a spread of numbers. */
        shard_plus_one = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) %
                             WF_INJECT_SHARDS + 1;
    return &p->inject[shard_plus_one - 1];
}

/* Append a task; ENOMEM only if a new segment was needed and none could be made. */
static int wf_inject_push(struct wf_inject *q, weft_future *f)
{
    struct wf_seg *fresh = NULL;
    for (;;) {
        /* acquire: pairs with the release store of a new lap's position (below), so
         * tail_seg is that lap's segment, or a later one (then the CAS fails). */
        uint64_t pos = atomic_load_explicit(&q->tail, memory_order_acquire);
        uint32_t slot = (uint32_t)(pos % WF_LAP);
        if (slot == WF_SEG_SLOTS) { /* the next segment is being installed */
            wf_cpu_relax();
            continue;
        }
        struct wf_seg *seg = atomic_load_explicit(&q->tail_seg, memory_order_acquire);
        if (slot == WF_SEG_SLOTS - 1 && !fresh) {
            /* We may take the last slot: have the next segment ready first. */
            if (!(fresh = wf_seg_new(q)))
                return ENOMEM;
            continue;
        }
        /* seq_cst: claims position pos; the first half of the submit Dekker
         * (wf_pool_notify reads next) and of the submit/shutdown one. */
        if (!atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                   memory_order_seq_cst, memory_order_relaxed))
            continue;
        if (slot == WF_SEG_SLOTS - 1) {
            /* release (all three): the consumer reaches `fresh` through seg->next
             * after our slot below; producers of the next lap through the tail. */
            atomic_store_explicit(&seg->next, fresh, memory_order_release);
            atomic_store_explicit(&q->tail_seg, fresh, memory_order_release);
            atomic_store_explicit(&q->tail, pos + 2, memory_order_release);
            fresh = NULL;
        }
        /* release: the consumer's acquire load of the slot sees the task. */
        atomic_store_explicit(&seg->slots[slot], f, memory_order_release);
        if (fresh)
            wf_seg_recycle(q, fresh);
        /* Producers that outrun the workers only grow the queue (and the heap): past
         * WF_BACKLOG, give the core to a worker now and then. Looked at once a lap
         * (relaxed: a hint), so a push does not pull the head's line each time. */
        if (slot == 0 &&
            pos - atomic_load_explicit(&q->head, memory_order_relaxed) > WF_BACKLOG)
            sched_yield();
        return 0;
    }
}

/* Under q->lock: the oldest task, or NULL. *busy (busy non-NULL) is set when its
 * producer has claimed the position but not yet written the slot (not empty, only
 * not ready); a worker's take passes NULL, as it retries anyway.
 * The tail is read only when the slot is empty: every push writes the tail's line,
 * and a consumer reading it at each take would pull it away from the producers. */
static weft_future *wf_inject_pop(struct wf_inject *q, bool *busy)
{
    /* relaxed: the head is ours under the lock. */
    uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint32_t slot = (uint32_t)(pos % WF_LAP);
    struct wf_seg *seg = q->head_seg;
    /* acquire: pairs with the producer's release store of the slot. */
    weft_future *f = atomic_load_explicit(&seg->slots[slot], memory_order_acquire);
    if (!f) {
        /* relaxed: only whether the position is claimed (the slot carries the task). */
        if (busy && pos != atomic_load_explicit(&q->tail, memory_order_relaxed))
            *busy = true;
        return NULL;
    }
    if (slot == WF_SEG_SLOTS - 1) {
        /* acquire (through the slot above): written before that slot. */
        q->head_seg = atomic_load_explicit(&seg->next, memory_order_relaxed);
        /* relaxed: readers outside the lock only compare it with the tail, and a
         * stale head only makes the queue look non-empty. */
        atomic_store_explicit(&q->head, pos + 2, memory_order_relaxed);
        wf_seg_recycle(q, seg); /* every slot of it was written and taken */
    } else {
        atomic_store_explicit(&q->head, pos + 1, memory_order_relaxed); /* as above */
    }
    return f;
}

static bool wf_inject_nonempty(struct weft_pool *p)
{
    /* seq_cst: the second half of the parking Dekker and of the exit one (a claimed
     * position counts even before its slot is written). relaxed for the head: a
     * stale (smaller) one only makes the queue look non-empty, and one read after
     * the tail may have moved past it, which also reads non-empty. */
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        struct wf_inject *q = &p->inject[i];
        uint64_t tail = atomic_load_explicit(&q->tail, memory_order_seq_cst);
        if (tail != atomic_load_explicit(&q->head, memory_order_relaxed))
            return true;
    }
    return false;
}

/* Takes the oldest task of shard q for worker w, and moves up to WF_BATCH - 1 more
 * into w's deque (oldest taken first by w). */
static weft_future *wf_inject_take_from(struct wf_worker *w, struct wf_inject *q)
{
    if (!weft_lock_try_acquire(&q->lock))
        return NULL; /* another worker is taking: steal from it instead */
    weft_future *first = wf_inject_pop(q, NULL);
    weft_future *batch[WF_BATCH - 1];
    int n = 0;
    if (first) {
        __builtin_prefetch(first, 1); /* we write its state first thing */
        /* relaxed: our own bottom; acquire: a top that only grows (room is
         * underestimated), and a thief's CAS before we reuse the slot it read. */
        int64_t room = WF_DEQUE_SIZE - (atomic_load_explicit(&w->deque.bottom, memory_order_relaxed) -
                                        atomic_load_explicit(&w->deque.top, memory_order_acquire));
        while (n < WF_BATCH - 1 && n < room) {
            weft_future *f = wf_inject_pop(q, NULL);
            if (!f)
                break;
            __builtin_prefetch(f, 1); /* the misses of the batch overlap */
            batch[n++] = f;
        }
    }
    weft_lock_release(&q->lock);
    if (n > 0)
        wf_deque_push_batch(&w->deque, batch, n);
    return first;
}

/* Takes from the shards in turn, starting at one of w's own so that the workers
 * spread over them. */
static weft_future *wf_inject_take(struct wf_worker *w)
{
    for (uint32_t i = 0; i < WF_INJECT_SHARDS; i++) {
        weft_future *f =
            wf_inject_take_from(w, &w->pool->inject[(w->index + i) % WF_INJECT_SHARDS]);
        if (f)
            return f;
    }
    return NULL;
}

/* ---- finding work ------------------------------------------------------------------ */

static weft_future *wf_steal_any(struct wf_worker *w)
{
    struct weft_pool *p = w->pool;
    /* acquire: the worker slots below n were set before n was published. */
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_acquire);
    if (n < 2)
        return NULL;
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 17;
    w->rng ^= w->rng << 5;
    uint32_t start = w->rng % n;
    for (int attempt = 0; attempt < 2; attempt++) {
        bool lost = false;
        for (uint32_t i = 0; i < n; i++) {
            struct wf_worker *v = p->workers[(start + i) % n];
            if (v == w)
                continue;
            weft_future *f = wf_deque_steal(&v->deque, &lost);
            if (f)
                return f;
        }
        if (!lost)
            break; /* every deque looked empty: no point in a second round */
    }
    return NULL;
}

/* One pass over every source: own deque, injection queue, other deques. */
static weft_future *wf_find_task(struct wf_worker *w)
{
    weft_future *f;
    if (++w->tick % WF_FAIRNESS_TICKS == 0 && (f = wf_inject_take(w)))
        return f;
    if ((f = wf_deque_take(&w->deque)))
        return f;
    if ((f = wf_inject_take(w)))
        return f;
    return wf_steal_any(w);
}

static bool wf_has_work(struct weft_pool *p)
{
    if (wf_inject_nonempty(p))
        return true;
    /* acquire: as in wf_steal_any. */
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++)
        if (wf_deque_nonempty(&p->workers[i]->deque))
            return true;
    return false;
}

static inline bool wf_is_closed(struct weft_pool *p)
{
    /* seq_cst: the exit Dekker (read closed, then every queue). */
    return atomic_load_explicit(&p->closed, memory_order_seq_cst) != 0;
}

/* ---- waking and parking ------------------------------------------------------------ */

/* Under no lock: wake one parked worker, counting it as searching. False if none
 * was parked. */
static bool wf_unpark_one(struct weft_pool *p)
{
    weft_lock_acquire(&p->idle_lock);
    struct wf_worker *w = p->idle;
    if (w) {
        p->idle = w->idle_next;
        w->in_idle = false;
        /* relaxed: the count is read only as a hint or in a Dekker pair whose
         * other half is the increment; the list under the lock is the truth. */
        atomic_fetch_sub_explicit(&p->n_parked, 1, memory_order_relaxed);
        /* acq_rel: every change of park is an exchange (see its state table). */
        atomic_exchange_explicit(&w->park, WF_PARK_NOTIFIED, memory_order_acq_rel);
    }
    weft_lock_release(&p->idle_lock);
    if (!w)
        return false;
    /* Lost wakeup avoided: park left PARKED before this wake, and the worker sleeps
     * only while it reads PARKED. Workers outlive every wake (the pool frees them). */
    wf_wake(&w->park, 1);
    return true;
}

/* After a push: make sure some worker will look at the queues. */
static void wf_pool_notify(struct weft_pool *p)
{
    for (;;) {
        /* seq_cst: the second half of the submit Dekker (the push was seq_cst).
         * n_parked first: it changes only when a worker sleeps or wakes, while
         * searchers write n_searching at every task they find. */
        if (atomic_load_explicit(&p->n_parked, memory_order_seq_cst) == 0)
            return; /* nobody sleeps, and every worker looks again before it does */
        if (atomic_load_explicit(&p->n_searching, memory_order_seq_cst) != 0)
            return; /* a searcher will find the task, or wake the next */
        uint32_t zero = 0;
        /* seq_cst: this count is read in the Dekker pairs above. */
        if (!atomic_compare_exchange_strong_explicit(&p->n_searching, &zero, 1,
                                                     memory_order_seq_cst, memory_order_relaxed))
            return; /* someone else woke a worker, or started searching */
        if (wf_unpark_one(p))
            return;
        /* Nobody left to wake. Give the count back; a submit that saw it relied on
         * us, so look again (the stop-searching Dekker). */
        if (atomic_fetch_sub_explicit(&p->n_searching, 1, memory_order_seq_cst) != 1 ||
            !wf_has_work(p))
            return;
    }
}

/* Become a searcher if fewer than max_searching are. */
static bool wf_try_search(struct weft_pool *p)
{
    uint32_t n = atomic_load_explicit(&p->n_searching, memory_order_relaxed);
    while (n < p->max_searching)
        /* seq_cst: this count is read in the submit Dekker. */
        if (atomic_compare_exchange_weak_explicit(&p->n_searching, &n, n + 1,
                                                  memory_order_seq_cst, memory_order_relaxed))
            return true;
    return false;
}

/* A searcher stops searching (it found a task, or gives up). A submit that saw it
 * searching relied on it, so if it was the last one, look once more (seq_cst
 * decrement, then seq_cst loads) and wake another if work is left: the rest of a
 * batch it took, or tasks queued meanwhile (the chain of wakeups). A lone task
 * wakes nobody, so a trickle of tasks costs no system call. */
static void wf_stop_searching(struct weft_pool *p)
{
    if (atomic_fetch_sub_explicit(&p->n_searching, 1, memory_order_seq_cst) == 1 &&
        wf_has_work(p))
        wf_pool_notify(p);
}

/* Poll every queue for a while; NULL if nothing turned up (or `watched` is done). */
static weft_future *wf_search(struct wf_worker *w, const weft_future *watched)
{
    for (int round = 0; round < WF_SEARCH_ROUNDS; round++) {
        if (watched && weft_future_done(watched))
            return NULL;
        if (round % 8 == 7)
            sched_yield(); /* give a core to a submitter, should we be too many */
        else
            for (int i = 0; i < WF_SEARCH_PAUSES; i++)
                wf_cpu_relax();
        weft_future *f = wf_find_task(w);
        if (f)
            return f;
    }
    return NULL;
}

/* Sleep until woken, `watched` is done, d passes or the pool closes. Returns true
 * if a notifier took us off the idle list: we then count as searching. */
static bool wf_park(struct wf_worker *w, const weft_future *watched, weft_deadline d)
{
    struct weft_pool *p = w->pool;
    weft_lock_acquire(&p->idle_lock);
    /* acq_rel: see park's table. NOTIFIED here is a watch that fired meanwhile. */
    uint32_t prev = atomic_exchange_explicit(&w->park, WF_PARK_PARKED, memory_order_acq_rel);
    w->idle_next = p->idle;
    p->idle = w;
    w->in_idle = true;
    /* seq_cst: the first half of the parking Dekker; the look below is the second. */
    atomic_fetch_add_explicit(&p->n_parked, 1, memory_order_seq_cst);
    weft_lock_release(&p->idle_lock);

    if (prev != WF_PARK_NOTIFIED && !wf_has_work(p) && !wf_is_closed(p) &&
        !(watched && weft_future_done(watched))) {
        /* Lost wakeup avoided: notifiers, shutdown and watches change park before
         * they wake it; we sleep only while it reads PARKED. acquire: pairs with
         * their exchange (the real sync is our exchange below). */
        while (atomic_load_explicit(&w->park, memory_order_acquire) == WF_PARK_PARKED)
            if (wf_wait(&w->park, WF_PARK_PARKED, d) == ETIMEDOUT)
                break;
    }

    weft_lock_acquire(&p->idle_lock);
    bool picked = !w->in_idle;
    if (!picked) {
        struct wf_worker **link = &p->idle;
        while (*link != w)
            link = &(*link)->idle_next;
        *link = w->idle_next;
        w->in_idle = false;
        /* relaxed: as in wf_unpark_one. */
        atomic_fetch_sub_explicit(&p->n_parked, 1, memory_order_relaxed);
    }
    /* acq_rel: synchronizes with a watch that fired while we slept, so a watched
     * future we were woken for reads done. */
    atomic_exchange_explicit(&w->park, WF_PARK_EMPTY, memory_order_acq_rel);
    weft_lock_release(&p->idle_lock);
    return picked;
}

/* Wake every parked worker (shutdown, broken pool). They stay on the idle list and
 * take themselves off, not counting as searchers. */
static void wf_wake_all(struct weft_pool *p)
{
    weft_lock_acquire(&p->idle_lock);
    for (struct wf_worker *w = p->idle; w; w = w->idle_next) {
        /* acq_rel: see park's table. */
        atomic_exchange_explicit(&w->park, WF_PARK_NOTIFIED, memory_order_acq_rel);
        /* Lost wakeup avoided: park changed first, as in wf_unpark_one. */
        wf_wake(&w->park, 1);
    }
    weft_lock_release(&p->idle_lock);
}

/* ---- backpressure (max_pending) ------------------------------------------------------ */

/* Take room for one task. A worker of the pool never waits (it would block the
 * tasks that make room). Returns 0, EAGAIN (no room and `poll`) or ETIMEDOUT. */
static int wf_room_acquire(struct weft_pool *p, bool own_worker, bool poll, weft_deadline d)
{
    if (!p->max_pending)
        return 0;
    if (own_worker) {
        /* relaxed: the count orders no data. */
        atomic_fetch_add_explicit(&p->pending, 1, memory_order_relaxed);
        return 0;
    }
    uint32_t v = atomic_load_explicit(&p->pending, memory_order_relaxed);
    for (;;) {
        if (v < p->max_pending) {
            /* relaxed: the count orders no data. */
            if (atomic_compare_exchange_weak_explicit(&p->pending, &v, v + 1,
                                                      memory_order_relaxed, memory_order_relaxed))
                return 0;
            continue;
        }
        if (poll)
            return EAGAIN;
        if (weft_deadline_passed(d))
            return ETIMEDOUT;
        /* seq_cst: the first half of the room Dekker (announce, then re-read);
         * wf_pool_unpend decrements, then reads room_waiters. */
        atomic_fetch_add_explicit(&p->room_waiters, 1, memory_order_seq_cst);
        v = atomic_load_explicit(&p->pending, memory_order_seq_cst);
        if (v >= p->max_pending)
            /* Lost wakeup avoided: we sleep only while pending still reads v; an
             * unpend changes it before it wakes. */
            wf_wait(&p->pending, v, d);
        /* relaxed: leaving only makes later wakes unnecessary. */
        atomic_fetch_sub_explicit(&p->room_waiters, 1, memory_order_relaxed);
        v = atomic_load_explicit(&p->pending, memory_order_relaxed);
    }
}

void wf_pool_unpend(struct weft_pool *p)
{
    if (!p->max_pending)
        return;
    /* seq_cst: the second half of the room Dekker: decrement, then read waiters. */
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&p->room_waiters, memory_order_seq_cst) != 0)
        wf_wake(&p->pending, 1);
}

/* ---- running tasks ------------------------------------------------------------------- */

static inline bool wf_is_post(weft_future *f)
{
    /* relaxed: the flag is set before the task is queued and never changes. */
    return atomic_load_explicit(&f->state, memory_order_relaxed) & WF_FUTURE_POST;
}

/* A task not to run: cancelled (cancel_futures) or failed with EPIPE (broken). Drops
 * the pool's reference. */
static void wf_discard(struct weft_pool *p, weft_future *f, bool broken)
{
    if (broken) {
        if (wf_future_claim(f)) {
            wf_pool_unpend(p);
            if (!wf_is_post(f))
                wf_future_finish(f, NULL, EPIPE);
        }
    } else {
        wf_future_cancel_pending(f); /* unpends */
    }
    weft_future_release(f);
}

/* Python's idle semaphore: a worker about to have nothing to do says so before it
 * publishes its result, so a submit that follows the result reuses it. */
static void wf_maybe_idle(struct wf_worker *w)
{
    struct weft_pool *p = w->pool;
    /* relaxed: hints; a wrong guess only starts a worker more or less. */
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_relaxed);
    if (n >= p->max_workers)
        return;
    if (atomic_load_explicit(&w->deque.bottom, memory_order_relaxed) >
        atomic_load_explicit(&w->deque.top, memory_order_relaxed))
        return;
    for (int i = 0; i < WF_INJECT_SHARDS; i++)
        if (atomic_load_explicit(&p->inject[i].tail, memory_order_relaxed) !=
            atomic_load_explicit(&p->inject[i].head, memory_order_relaxed))
            return;
    if (atomic_load_explicit(&p->idle_tokens, memory_order_relaxed) < n)
        atomic_fetch_add_explicit(&p->idle_tokens, 1, memory_order_relaxed);
}

/* Run a task taken from a queue (w NULL: by a submitter running leftovers). */
static void wf_run_task(struct weft_pool *p, struct wf_worker *w, weft_future *f)
{
    /* relaxed: a shutdown racing this claim may go either way. */
    uint32_t closed = atomic_load_explicit(&p->closed, memory_order_relaxed);
    if (closed & (WF_POOL_CANCEL | WF_POOL_BROKEN)) {
        wf_discard(p, f, closed & WF_POOL_BROKEN);
        return;
    }
    if (!wf_future_claim(f)) { /* cancelled, or retracted by its submitter */
        weft_future_release(f);
        return;
    }
    wf_pool_unpend(p);
    void *result = NULL;
    int error = f->fn(f->arg, &result);
    if (w)
        wf_maybe_idle(w);
    if (!wf_is_post(f))
        wf_future_finish(f, result, error);
    weft_future_release(f);
}

/* ---- workers ----------------------------------------------------------------------- */

enum wf_drain { WF_DRAIN_CANCEL, WF_DRAIN_FAIL, WF_DRAIN_RUN };
static void wf_pool_drain(struct weft_pool *p, enum wf_drain how);

static void wf_pool_break(struct weft_pool *p)
{
    /* seq_cst: as a shutdown (the submit and exit Dekkers). */
    atomic_fetch_or_explicit(&p->closed, WF_POOL_BROKEN, memory_order_seq_cst);
    wf_pool_drain(p, WF_DRAIN_FAIL);
    wf_wake_all(p);
}

static void *wf_worker_main(void *arg)
{
    struct wf_worker *w = arg;
    struct weft_pool *p = w->pool;
    wf_self = w;
    if (p->initializer && p->initializer(p->initializer_arg) != 0) {
        wf_pool_break(p);
        wf_self = NULL;
        return NULL;
    }
    bool searching = false;
    for (;;) {
        weft_future *f = wf_find_task(w);
        if (!f && !searching)
            searching = wf_try_search(p);
        if (!f && searching)
            f = wf_search(w, NULL);
        if (searching) {
            searching = false;
            wf_stop_searching(p);
        }
        if (f) {
            wf_run_task(p, w, f);
            continue;
        }
        if (wf_is_closed(p)) {
            if (wf_has_work(p)) /* the exit Dekker's second half */
                continue;
            break;
        }
        searching = wf_park(w, NULL, WEFT_DEADLINE_NEVER);
    }
    wf_self = NULL;
    return NULL;
}

/* The helping wait's watch: makes the worker's park word NOTIFIED. */
struct wf_help_watch {
    struct wf_watch watch; /* first: the callback casts back */
    struct wf_worker *worker;
};

static void wf_help_fire(struct wf_watch *watch, weft_future *f)
{
    (void)f;
    struct wf_worker *w = ((struct wf_help_watch *)watch)->worker;
    /* acq_rel: see park's table; the worker that reads NOTIFIED sees f done. */
    atomic_exchange_explicit(&w->park, WF_PARK_NOTIFIED, memory_order_acq_rel);
    /* Lost wakeup avoided: park changed before this wake; the worker sleeps only
     * while it reads PARKED. */
    wf_wake(&w->park, 1);
}

bool wf_pool_is_own_worker(const struct weft_pool *p)
{
    return wf_self && wf_self->pool == p;
}

int wf_pool_help_until(weft_future *f, weft_deadline d)
{
    struct wf_worker *w = wf_self;
    struct weft_pool *p = w->pool;
    struct wf_help_watch hw = {.watch = {.fn = wf_help_fire}, .worker = w};
    bool watching = false, searching = false;
    int r = 0;
    for (;;) {
        if (weft_future_done(f))
            break;
        weft_future *t = wf_find_task(w);
        if (!t && !searching)
            searching = wf_try_search(p);
        if (!t && searching)
            t = wf_search(w, f);
        if (searching) {
            searching = false;
            wf_stop_searching(p);
        }
        if (t) {
            wf_run_task(p, w, t);
            continue;
        }
        if (weft_future_done(f))
            break;
        if (weft_deadline_passed(d)) {
            r = ETIMEDOUT;
            break;
        }
        if (!watching) {
            if (!wf_future_watch(f, &hw.watch))
                break; /* done meanwhile */
            watching = true;
        }
        if (wf_park(w, f, d)) {
            /* Picked by a notifier: we count as searching; look at least once. */
            t = wf_find_task(w);
            wf_stop_searching(p);
            if (t)
                wf_run_task(p, w, t);
        }
    }
    if (watching)
        wf_future_unwatch(f, &hw.watch);
    return r;
}

static int wf_start_worker(struct weft_pool *p, uint32_t i)
{
    struct wf_worker *w = aligned_alloc(64, (sizeof *w + 63) / 64 * 64);
    if (!w)
        return ENOMEM;
    memset(w, 0, sizeof *w);
    atomic_init(&w->deque.top, 0);
    atomic_init(&w->deque.bottom, 0);
    for (int k = 0; k < WF_DEQUE_SIZE; k++)
        atomic_init(&w->deque.slots[k], NULL);
    atomic_init(&w->park, WF_PARK_EMPTY);
    w->pool = p;
    w->index = i;
    w->rng = i * 2654435761u + 0x9E3779B9u;
    if (!w->rng)
        w->rng = 1;
    p->workers[i] = w;

    size_t len = strlen(p->prefix) + 16;
    char *name = malloc(len);
    if (!name) {
        free(w);
        p->workers[i] = NULL;
        return ENOMEM;
    }
    snprintf(name, len, "%s_%u", p->prefix, i);
    /* Daemons: weft_thread_join_all must not wait for idle workers (the pool's
     * shutdown joins them). */
    weft_thread_opts opts = {.name = name, .daemon = true, .stack_size = 0};
    int r = weft_thread_start(&w->thread, wf_worker_main, w, &opts);
    free(name);
    if (r != 0) {
        free(w);
        p->workers[i] = NULL;
    }
    return r;
}

/* Python's _adjust_thread_count: without an idle worker to take the task, start
 * one, up to max_workers. Returns EAGAIN or ENOMEM only if no worker runs at all. */
static int wf_maybe_spawn(struct weft_pool *p)
{
    uint32_t tokens = atomic_load_explicit(&p->idle_tokens, memory_order_relaxed);
    while (tokens > 0)
        /* relaxed: a hint about idle workers, ordering nothing. */
        if (atomic_compare_exchange_weak_explicit(&p->idle_tokens, &tokens, tokens - 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return 0;
    int r = 0;
    weft_lock_acquire(&p->spawn_lock);
    /* relaxed: n_workers changes only under spawn_lock; closed is ordered by the
     * lock against a shutdown (which sets it, then takes the lock). */
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_relaxed);
    if (n < p->max_workers && !atomic_load_explicit(&p->closed, memory_order_relaxed)) {
        r = wf_start_worker(p, n);
        if (r == 0)
            /* release: publishes workers[n] to thieves and parkers (acquire). */
            atomic_store_explicit(&p->n_workers, n + 1, memory_order_release);
        else if (n > 0)
            r = 0; /* the running workers will do */
    }
    weft_lock_release(&p->spawn_lock);
    return r;
}

/* ---- creating and submitting ------------------------------------------------------ */

static uint32_t wf_usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (uint32_t)n;
    }
    return 1;
}

int weft_pool_create(weft_pool **pp, const weft_pool_options *opts)
{
    if (!pp)
        return EINVAL;
    weft_pool_options o = opts ? *opts : (weft_pool_options)WEFT_POOL_OPTIONS_INIT;
    if (o.max_workers > WF_MAX_WORKERS)
        return EINVAL;
    uint32_t cpus = wf_usable_cpus();
    if (o.max_workers == 0)
        o.max_workers = cpus + 4 < 32 ? cpus + 4 : 32;

    weft_pool *p = aligned_alloc(64, (sizeof *p + 63) / 64 * 64);
    if (!p)
        return ENOMEM;
    memset(p, 0, sizeof *p);
    p->max_workers = (uint32_t)o.max_workers;
    p->max_searching = cpus;
    if (p->max_searching > p->max_workers)
        p->max_searching = p->max_workers;
    p->max_pending = o.max_pending > WF_MAX_PENDING ? WF_MAX_PENDING : (uint32_t)o.max_pending;
    p->initializer = o.initializer;
    p->initializer_arg = o.initializer_arg;
    if (o.name_prefix) {
        p->prefix = strdup(o.name_prefix);
    } else {
        /* relaxed: only a unique number. */
        unsigned k = atomic_fetch_add_explicit(&wf_pool_counter, 1, memory_order_relaxed);
        p->prefix = malloc(40);
        if (p->prefix)
            snprintf(p->prefix, 40, "ThreadPoolExecutor-%u", k);
    }
    p->workers = calloc(p->max_workers, sizeof *p->workers);
    if (!p->prefix || !p->workers) {
        free(p->prefix);
        free(p->workers);
        free(p);
        return ENOMEM;
    }
    atomic_init(&p->closed, 0);
    atomic_init(&p->n_workers, 0);
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        struct wf_inject *q = &p->inject[i];
        atomic_init(&q->spare_seg, NULL);
        struct wf_seg *seg = wf_seg_new(q);
        if (!seg) {
            while (i-- > 0)
                free(p->inject[i].head_seg);
            free(p->prefix);
            free(p->workers);
            free(p);
            return ENOMEM;
        }
        atomic_init(&q->tail, 0);
        atomic_init(&q->tail_seg, seg);
        atomic_init(&q->head, 0);
        q->head_seg = seg;
        atomic_init(&q->lock.word, 0);
    }
    atomic_init(&p->n_searching, 0);
    atomic_init(&p->n_parked, 0);
    atomic_init(&p->idle_tokens, 0);
    atomic_init(&p->idle_lock.word, 0);
    p->idle = NULL;
    atomic_init(&p->pending, 0);
    atomic_init(&p->room_waiters, 0);
    atomic_init(&p->spawn_lock.word, 0);
    atomic_init(&p->join_lock.word, 0);
    *pp = p;
    return 0;
}

static int wf_closed_error(uint32_t closed)
{
    return closed & WF_POOL_BROKEN ? EPIPE : ESHUTDOWN;
}

/* Every submit: fut NULL makes a post. `poll`: no room is EAGAIN, not a wait. */
static int wf_pool_push(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut, bool poll,
                        weft_deadline d)
{
    struct wf_worker *self = wf_self && wf_self->pool == p ? wf_self : NULL;
    /* relaxed: an early answer; the seq_cst re-read after the push decides. */
    uint32_t closed = atomic_load_explicit(&p->closed, memory_order_relaxed);
    if (closed)
        return wf_closed_error(closed);
    int r = wf_room_acquire(p, self != NULL, poll, d);
    if (r != 0)
        return r;
    /* relaxed: a hint; wf_maybe_spawn decides under its lock. */
    if (atomic_load_explicit(&p->n_workers, memory_order_relaxed) < p->max_workers &&
        (r = wf_maybe_spawn(p)) != 0) {
        wf_pool_unpend(p);
        return r;
    }
    /* The queue's reference, and the caller's for a submit. */
    weft_future *f = wf_future_new(fut ? 2 : 1, fut ? 0 : WF_FUTURE_POST);
    if (!f) {
        wf_pool_unpend(p);
        return ENOMEM;
    }
    f->pool = p;
    f->fn = fn;
    f->arg = arg;
    if (fut)
        *fut = f; /* before the push: a post's task may be gone right after it */
    if (self && wf_deque_push(&self->deque, f)) {
        wf_pool_notify(p);
        return 0; /* we look at our own deque before we leave */
    }
    if (wf_inject_push(wf_inject_shard(p), f) != 0) {
        if (fut) {
            *fut = NULL;
            weft_future_release(f);
        }
        weft_future_release(f);
        wf_pool_unpend(p);
        return ENOMEM;
    }
    wf_pool_notify(p);
    /* seq_cst: the second half of the submit/shutdown Dekker (the push was
     * seq_cst). A shutdown not seen here came after the push, so the workers' last
     * look at the queues (after reading closed) finds the task. If it is seen, the
     * workers may be gone: run what is left ourselves (or discard it, as the pool's
     * state says), so that an accepted task is never stranded. */
    if (!self && atomic_load_explicit(&p->closed, memory_order_seq_cst))
        wf_pool_drain(p, WF_DRAIN_RUN);
    return 0;
}

int weft_pool_submit_until(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut,
                           weft_deadline d)
{
    if (fut)
        *fut = NULL;
    if (!p || !fn || !fut)
        return EINVAL;
    return wf_pool_push(p, fn, arg, fut, weft_deadline_passed(d), d);
}

int weft_pool_submit_for(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut,
                         int64_t timeout_ns)
{
    if (fut)
        *fut = NULL;
    if (!p || !fn || !fut)
        return EINVAL;
    return wf_pool_push(p, fn, arg, fut, timeout_ns == 0, weft_deadline_in(timeout_ns));
}

int weft_pool_submit(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut)
{
    return weft_pool_submit_until(p, fn, arg, fut, WEFT_DEADLINE_NEVER);
}

int weft_pool_post_until(weft_pool *p, weft_task_fn fn, void *arg, weft_deadline d)
{
    if (!p || !fn)
        return EINVAL;
    return wf_pool_push(p, fn, arg, NULL, weft_deadline_passed(d), d);
}

int weft_pool_post_for(weft_pool *p, weft_task_fn fn, void *arg, int64_t timeout_ns)
{
    if (!p || !fn)
        return EINVAL;
    return wf_pool_push(p, fn, arg, NULL, timeout_ns == 0, weft_deadline_in(timeout_ns));
}

int weft_pool_post(weft_pool *p, weft_task_fn fn, void *arg)
{
    return weft_pool_post_until(p, fn, arg, WEFT_DEADLINE_NEVER);
}

int weft_pool_map_until(weft_pool *p, weft_task_fn fn, void *const *args, size_t n,
                        void **results, weft_deadline d)
{
    if (!p || !fn || (!args && n > 0))
        return EINVAL;
    if (n == 0)
        return 0;
    weft_future **fs = malloc(n * sizeof *fs);
    if (!fs)
        return ENOMEM;
    size_t submitted = 0;
    int r = 0;
    for (; submitted < n; submitted++) {
        /* Waiting for room shares the map's deadline: running out is a timeout. */
        r = wf_pool_push(p, fn, args[submitted], &fs[submitted], false, d);
        if (r != 0)
            break;
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        void *result = NULL;
        r = weft_future_result_until(fs[i], d, &result);
        if (r == 0 && results)
            results[i] = result;
    }
    for (size_t i = 0; i < submitted; i++) {
        if (r != 0)
            weft_future_cancel(fs[i]); /* EBUSY for those done or running */
        weft_future_release(fs[i]);
    }
    free(fs);
    return r;
}

int weft_pool_map(weft_pool *p, weft_task_fn fn, void *const *args, size_t n, void **results,
                  int64_t timeout_ns)
{
    return weft_pool_map_until(p, fn, args, n, results, weft_deadline_in(timeout_ns));
}

/* ---- shutdown ----------------------------------------------------------------------- */

/* Take every queued task and cancel it, fail it with EPIPE, or run it here. Tasks
 * in flight between queues are dealt with by the workers that find them (they read
 * `closed` before each claim). */
static void wf_pool_drain(struct weft_pool *p, enum wf_drain how)
{
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        struct wf_inject *q = &p->inject[i];
        for (;;) {
            weft_lock_acquire(&q->lock);
            bool busy = false;
            weft_future *f = wf_inject_pop(q, &busy);
            weft_lock_release(&q->lock); /* not held while a task runs */
            if (f) {
                if (how == WF_DRAIN_RUN)
                    wf_run_task(p, NULL, f);
                else
                    wf_discard(p, f, how == WF_DRAIN_FAIL);
                continue;
            }
            if (!busy)
                break;
            sched_yield(); /* a producer between its claim and its slot */
        }
    }
    /* acquire: as in wf_steal_any. */
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        for (;;) {
            bool lost = false;
            weft_future *f = wf_deque_steal(&p->workers[i]->deque, &lost);
            if (f) {
                if (how == WF_DRAIN_RUN)
                    wf_run_task(p, NULL, f);
                else
                    wf_discard(p, f, how == WF_DRAIN_FAIL);
            } else if (!lost) {
                break;
            }
        }
    }
}

static void wf_join_workers(struct weft_pool *p)
{
    weft_lock_acquire(&p->spawn_lock); /* no start in flight, none after (closed) */
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_relaxed); /* under the lock */
    weft_lock_release(&p->spawn_lock);
    weft_lock_acquire(&p->join_lock);
    for (uint32_t i = 0; i < n; i++) {
        struct wf_worker *w = p->workers[i];
        if (!w->joined) {
            weft_thread_join(w->thread, WEFT_FOREVER, NULL);
            w->joined = true;
        }
    }
    weft_lock_release(&p->join_lock);
}

int weft_pool_shutdown(weft_pool *p, bool wait, bool cancel_futures)
{
    if (!p)
        return EINVAL;
    if (wait && wf_pool_is_own_worker(p))
        return EDEADLK;
    /* seq_cst: the first half of the submit/shutdown Dekker; workers read it
     * before their last look at the queues. */
    atomic_fetch_or_explicit(&p->closed, WF_POOL_SHUTDOWN | (cancel_futures ? WF_POOL_CANCEL : 0),
                             memory_order_seq_cst);
    if (cancel_futures)
        wf_pool_drain(p, WF_DRAIN_CANCEL);
    wf_wake_all(p);
    if (wait)
        wf_join_workers(p);
    return 0;
}

int weft_pool_destroy(weft_pool *p)
{
    if (!p)
        return EINVAL;
    if (wf_pool_is_own_worker(p))
        return EDEADLK;
    weft_pool_shutdown(p, true, false);
    /* Nothing is left (the workers left with the queues empty, and a submit that
     * pushed after that ran its task itself); should a task remain, run it. */
    wf_pool_drain(p, WF_DRAIN_RUN);
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_relaxed); /* all joined */
    for (uint32_t i = 0; i < n; i++) {
        weft_thread_release(p->workers[i]->thread);
        free(p->workers[i]);
    }
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        for (struct wf_seg *seg = p->inject[i].head_seg, *next; seg; seg = next) {
            next = atomic_load_explicit(&seg->next, memory_order_relaxed); /* all joined */
            free(seg);
        }
        free(atomic_load_explicit(&p->inject[i].spare_seg, memory_order_relaxed));
    }
    free(p->workers);
    free(p->prefix);
    free(p);
    return 0;
}

size_t weft_pool_worker_count(const weft_pool *p)
{
    /* relaxed: a snapshot. */
    return p ? atomic_load_explicit(&p->n_workers, memory_order_relaxed) : 0;
}

size_t weft_pool_max_workers(const weft_pool *p)
{
    return p ? p->max_workers : 0;
}
