/* weft_pool: a work-stealing thread pool (Python's ThreadPoolExecutor): the idle
 * list, backpressure, the workers, the scheduler and the API.
 *
 * A task is its future (src/future_internal.h): one allocation per submit; a post
 * is a future nobody else holds. The pool drives its futures through the future's
 * executor functions and plugs into them with a wf_executor (`exec`): unpend on a
 * cancel, and, for a thread waiting on one of its futures, whether to help. Where
 * tasks wait:
 *  - each worker owns a Chase-Lev deque (src/pool_deque.c). A worker's own
 *    submits go there; a full deque spills into the injection queue;
 *  - the injection queue (src/pool_inject.c) takes every other submit, in shards,
 *    one per submitting thread; a worker takes a batch of up to WF_BATCH tasks
 *    from it into its own deque, where others steal them.
 * A worker looks at its deque first, then the injection queue, then steals; every
 * WF_FAIRNESS_TICKS tasks the injection queue goes first, so that a worker busy
 * with its own fork-join work does not starve outside submitters.
 *
 * Sleeping (Go's scheduler, "spinning" threads): a worker with nothing to do becomes
 * a searcher (at most max_searching at once) and polls every queue for a while
 * (WF_SPIN_SEARCH), then parks: it links itself on the idle list, counts itself
 * in n_parked, looks at every queue once more, and only then sleeps on its own
 * `park` word. A submit pushes, then wakes a parked worker only if nobody searches
 * and somebody is parked (two loads, no system call in the common case), and
 * counts the woken worker as a searcher on its behalf, so a burst of submits wakes
 * one worker, not many. A searcher that finds work stops searching and, if it was
 * the last one, wakes the next, so wakeups chain only as far as the work goes.
 *
 * The Dekker pairs (each side: a seq_cst write, then a seq_cst read of the other's
 * variable, so at least one side sees the other):
 *   submit:  push task       -> read n_searching, n_parked (wf_pool_notify)
 *   parking: n_parked += 1   -> read every queue             (wf_park)
 *   stop searching: n_searching -= 1 -> read every queue     (wf_stop_searching)
 *   submit:  push task       -> read `closed`   (then the submitter runs leftovers)
 *   exit:    read `closed`   -> read every queue (a worker leaves only when empty)
 *   room:    room_waiters += 1 -> read pending; unpend: pending -= 1 -> read
 *            room_waiters                                  (max_pending)
 * Invariant: no task waits in a queue while every worker sleeps, and no worker
 * leaves while a task accepted before the shutdown waits.
 *
 * A worker that waits on a future of its own pool (wf_pool_help_until) keeps
 * running tasks, its own deque first; when there is none it parks as above, with a
 * watch on the future that changes its park word when the future is done. Every
 * thread running a task keeps the future in a chain on its stack (wf_running), so
 * a task that waits on its own future, or on one its thread runs further down the
 * stack, is told EDEADLK instead of waiting for itself.
 */
#include "future_internal.h"
#include "os.h"
#include "pool_deque.h"
#include "pool_inject.h"
#include "waiting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    WF_BATCH = 32,             /* most tasks moved from the injection queue at once */
    WF_FAIRNESS_TICKS = 61,    /* every so many tasks the injection queue goes first */
    WF_MAX_WORKERS = 65535,
    WF_MAX_PENDING = 1u << 30, /* larger bounds are as good as none */
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

struct wf_worker {
    struct wf_deque deque;
    _Atomic uint32_t park __attribute__((aligned(WF_CACHE_LINE)));
    struct weft_pool *pool __attribute__((aligned(WF_CACHE_LINE)));
    weft_thread thread;
    uint32_t index;
    uint32_t rng;  /* xorshift state: where stealing starts */
    uint32_t tick; /* tasks taken, for WF_FAIRNESS_TICKS */
    bool joined;   /* under the pool's join_lock */
    /* Under the pool's idle_lock: */
    bool in_idle;
    wf_list_node idle_link;
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
    wf_executor exec;           /* the hooks of the pool's futures */

    _Atomic uint32_t closed __attribute__((aligned(WF_CACHE_LINE)));
    _Atomic uint32_t n_workers; /* published with release after workers[n] is set */

    /* The injection queue, in shards: workers take from every shard. */
    struct wf_inject inject[WF_INJECT_SHARDS];

    /* Idle workers. */
    _Atomic uint32_t n_searching __attribute__((aligned(WF_CACHE_LINE)));
    _Atomic uint32_t n_parked;    /* changed under idle_lock, read anywhere */
    _Atomic uint32_t idle_tokens; /* Python's _idle_semaphore: spawn only without one */
    weft_lock idle_lock;
    wf_list idle; /* under idle_lock: parked workers, the latest first */

    /* max_pending: tasks submitted and not yet claimed. */
    _Atomic uint32_t pending __attribute__((aligned(WF_CACHE_LINE)));
    _Atomic uint32_t room_waiters;    /* submitters about to sleep for room */
    _Atomic uint32_t submits_waiting; /* submits that waited for room, until they
                                         return: destroy refuses while any does */

    weft_lock spawn_lock; /* starting a worker; shutdown's final n_workers */
    weft_lock join_lock;  /* joining the workers */
};

/* The worker the calling thread is, if any. initial-exec: no __tls_get_addr call
 * in the shared library (it takes static TLS space, a pointer). */
static _Thread_local struct wf_worker *wf_worker_self __attribute__((tls_model("initial-exec")));

/* The futures the calling thread is running, innermost first (a worker helping
 * while it waits runs tasks on top of the one that waits). */
struct wf_running {
    const weft_future *f;
    struct wf_running *outer;
};
/* initial-exec: as wf_worker_self. */
static _Thread_local struct wf_running *wf_running_top __attribute__((tls_model("initial-exec")));

static _Atomic uint32_t wf_pool_counter; /* numbers default prefixes */

static inline size_t wf_whole_lines(size_t size)
{
    return (size + WF_CACHE_LINE - 1) / WF_CACHE_LINE * WF_CACHE_LINE;
}

static bool wf_pool_is_own_worker(const struct weft_pool *p)
{
    return wf_worker_self && wf_worker_self->pool == p;
}

/* ---- finding work ------------------------------------------------------------------ */

/* Takes the oldest task of the first shard of the injection queue that has one,
 * and moves up to WF_BATCH - 1 more into w's deque (oldest taken first by w).
 * Starts at one of w's own shards, so that the workers spread over them. */
static weft_future *wf_take_injected(struct wf_worker *w)
{
    weft_future *batch[WF_BATCH];
    int64_t room = wf_deque_room(&w->deque);
    int max = 1 + (room < WF_BATCH - 1 ? (int)room : WF_BATCH - 1);
    for (uint32_t i = 0; i < WF_INJECT_SHARDS; i++) {
        int n = wf_inject_take(&w->pool->inject[(w->index + i) % WF_INJECT_SHARDS], batch, max);
        if (n > 0) {
            if (n > 1)
                wf_deque_push_batch(&w->deque, batch + 1, n - 1);
            return batch[0];
        }
    }
    return NULL;
}

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
    if (++w->tick % WF_FAIRNESS_TICKS == 0 && (f = wf_take_injected(w)))
        return f;
    if ((f = wf_deque_take(&w->deque)))
        return f;
    if ((f = wf_take_injected(w)))
        return f;
    return wf_steal_any(w);
}

static bool wf_has_work(struct weft_pool *p)
{
    if (wf_inject_nonempty(p->inject))
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
    wf_list_node *n = wf_list_pop_front(&p->idle);
    struct wf_worker *w = n ? WF_CONTAINER(n, struct wf_worker, idle_link) : NULL;
    if (w) {
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
    /* relaxed: a first guess for the CAS. */
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
    for (int lap = 0; lap < WF_SPIN_SEARCH_LAPS; lap++) {
        wf_spinner spin = wf_spinner_start_flat(WF_SPIN_SEARCH);
        while (wf_spin(&spin)) {
            if (watched && weft_future_done(watched))
                return NULL;
            weft_future *f = wf_find_task(w);
            if (f)
                return f;
        }
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
    wf_list_push_front(&p->idle, &w->idle_link);
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
            if (wf_sleep(&w->park, WF_PARK_PARKED, d) == ETIMEDOUT)
                break;
    }

    weft_lock_acquire(&p->idle_lock);
    bool picked = !w->in_idle;
    if (!picked) {
        wf_list_remove(&p->idle, &w->idle_link);
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
    WF_LIST_FOREACH(n, next, &p->idle) {
        struct wf_worker *w = WF_CONTAINER(n, struct wf_worker, idle_link);
        /* acq_rel: see park's table. */
        atomic_exchange_explicit(&w->park, WF_PARK_NOTIFIED, memory_order_acq_rel);
        /* Lost wakeup avoided: park changed first, as in wf_unpark_one. */
        wf_wake(&w->park, 1);
    }
    weft_lock_release(&p->idle_lock);
}

/* ---- backpressure (max_pending) ------------------------------------------------------ */

/* Take room for one task. A worker of the pool never waits (it would block the
 * tasks that make room). Returns 0, EAGAIN (no room and `poll`) or ETIMEDOUT.
 * The first time a call waits (*waited false), it counts itself in
 * submits_waiting and sets *waited: the public call that made it stays counted
 * until it returns (wf_pool_done_waiting), a map across all its submits. */
static int wf_room_acquire(struct weft_pool *p, bool own_worker, bool poll, weft_deadline d,
                           bool *waited)
{
    if (!p->max_pending)
        return 0;
    if (own_worker) {
        /* relaxed: the count orders no data. */
        atomic_fetch_add_explicit(&p->pending, 1, memory_order_relaxed);
        return 0;
    }
    /* relaxed: the count orders no data (the CAS below decides). */
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
        if (!*waited) {
            *waited = true;
            /* relaxed: destroy reads it only to refuse; its free is ordered after
             * our last touch by the release decrement (wf_pool_done_waiting). */
            atomic_fetch_add_explicit(&p->submits_waiting, 1, memory_order_relaxed);
        }
        if (weft_deadline_passed(d))
            return ETIMEDOUT;
        /* seq_cst: the first half of the room Dekker (announce, then re-read);
         * wf_pool_unpend decrements, then reads room_waiters. */
        atomic_fetch_add_explicit(&p->room_waiters, 1, memory_order_seq_cst);
        v = atomic_load_explicit(&p->pending, memory_order_seq_cst);
        if (v >= p->max_pending)
            /* Lost wakeup avoided: we sleep only while pending still reads v; an
             * unpend changes it before it wakes. */
            wf_sleep(&p->pending, v, d);
        /* relaxed: leaving only makes later wakes unnecessary. */
        atomic_fetch_sub_explicit(&p->room_waiters, 1, memory_order_relaxed);
        v = atomic_load_explicit(&p->pending, memory_order_relaxed);
    }
}

/* A task left PENDING: claimed by a runner or cancelled. Gives its room back. */
static void wf_pool_unpend(struct weft_pool *p)
{
    if (!p->max_pending)
        return;
    /* seq_cst: the second half of the room Dekker: decrement, then read waiters. */
    atomic_fetch_sub_explicit(&p->pending, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&p->room_waiters, memory_order_seq_cst) != 0)
        wf_wake(&p->pending, 1);
}

/* ---- running tasks ------------------------------------------------------------------- */

/* A task not to run: cancelled (cancel_futures) or failed with EPIPE (broken). Drops
 * the pool's reference. */
static void wf_discard(struct weft_pool *p, weft_future *f, bool broken)
{
    if (broken) {
        if (wf_future_set_running(f)) {
            wf_pool_unpend(p);
            if (!wf_future_is_post(f))
                wf_future_finish(f, NULL, EPIPE);
        }
    } else {
        wf_future_cancel_pending(f); /* unpends, through the executor hook */
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
    if (!wf_deque_looks_empty(&w->deque) || !wf_inject_looks_empty(p->inject))
        return;
    /* relaxed: as above. */
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
    if (!wf_future_set_running(f)) { /* cancelled, or retracted by its submitter */
        weft_future_release(f);
        return;
    }
    wf_pool_unpend(p);
    wf_tsan_acquire(f); /* see wf_pool_enqueue */
    struct wf_running running = {.f = f, .outer = wf_running_top};
    wf_running_top = &running;
    void *result = NULL;
    int error = wf_future_call(f, &result);
    wf_running_top = running.outer;
    if (w)
        wf_maybe_idle(w);
    if (!wf_future_is_post(f))
        wf_future_finish(f, result, error);
    weft_future_release(f);
}

/* ---- the executor hook (src/future_internal.h) ---------------------------------------- */

static void wf_exec_unpend(void *ctx)
{
    wf_pool_unpend(ctx);
}

static enum wf_exec_wait wf_exec_wait_how(void *ctx, const weft_future *f)
{
    /* Only a RUNNING future can be on this thread's chain (a fork-join wait is
     * mostly on a pending one: no walk). Its runner set it RUNNING, so if that is
     * this thread, the snapshot cannot miss it. */
    if (wf_running_top && wf_future_is_running(f))
        for (const struct wf_running *r = wf_running_top; r; r = r->outer)
            if (r->f == f)
                return WF_EXEC_SELF; /* it finishes only once this thread returns to it */
    return wf_pool_is_own_worker(ctx) ? WF_EXEC_HELP : WF_EXEC_SLEEP;
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

/* The calling worker of pool ctx runs the pool's tasks until f is done (0) or d
 * passes (ETIMEDOUT). */
static int wf_pool_help_until(void *ctx, weft_future *f, weft_deadline d)
{
    struct wf_worker *w = wf_worker_self;
    struct weft_pool *p = ctx;
    struct wf_help_watch help = {.watch = {.fn = wf_help_fire}, .worker = w};
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
            if (!wf_future_watch(f, &help.watch))
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
        wf_future_unwatch(f, &help.watch);
    return r;
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
    /* For life: a task (or the initializer) calling weft_thread_exit gets EPERM
     * instead of ending the worker with its future RUNNING forever. */
    wf_thread_set_pinned(true);
    wf_worker_self = w;
    if (p->initializer && p->initializer(p->initializer_arg) != 0) {
        wf_pool_break(p);
        wf_worker_self = NULL;
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
    wf_worker_self = NULL;
    return NULL;
}

static int wf_start_worker(struct weft_pool *p, uint32_t i)
{
    struct wf_worker *w = aligned_alloc(WF_CACHE_LINE, wf_whole_lines(sizeof *w));
    if (!w)
        return ENOMEM;
    memset(w, 0, sizeof *w);
    wf_deque_init(&w->deque);
    atomic_init(&w->park, WF_PARK_EMPTY);
    w->pool = p;
    w->index = i;
    w->rng = i * 2654435761u + 0x9E3779B9u; /* Knuth's multiplicative hash; never 0 */
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
    /* relaxed: a hint about idle workers, ordering nothing. */
    uint32_t tokens = atomic_load_explicit(&p->idle_tokens, memory_order_relaxed);
    while (tokens > 0)
        /* relaxed: as above. */
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

static void wf_pool_free(weft_pool *p)
{
    free(p->prefix);
    free(p->workers);
    free(p);
}

int weft_pool_create(weft_pool **pp, const weft_pool_options *opts)
{
    if (!pp)
        return EINVAL;
    weft_pool_options o = opts ? *opts : (weft_pool_options)WEFT_POOL_OPTIONS_INIT;
    if (o.max_workers > WF_MAX_WORKERS)
        return EINVAL;
    uint32_t cpus = (uint32_t)wf_os_cpu_count();
    if (o.max_workers == 0)
        o.max_workers = cpus + 4 < 32 ? cpus + 4 : 32;

    weft_pool *p = aligned_alloc(WF_CACHE_LINE, wf_whole_lines(sizeof *p));
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
    if (!p->prefix || !p->workers || wf_inject_init(p->inject) != 0) {
        wf_pool_free(p);
        return ENOMEM;
    }
    p->exec = (wf_executor){.ctx = p,
                            .unpend = wf_exec_unpend,
                            .wait_how = wf_exec_wait_how,
                            .help_until = wf_pool_help_until};
    atomic_init(&p->closed, 0);
    atomic_init(&p->n_workers, 0);
    atomic_init(&p->n_searching, 0);
    atomic_init(&p->n_parked, 0);
    atomic_init(&p->idle_tokens, 0);
    atomic_init(&p->idle_lock.word, 0);
    p->idle = (wf_list){NULL, NULL};
    atomic_init(&p->pending, 0);
    atomic_init(&p->room_waiters, 0);
    atomic_init(&p->submits_waiting, 0);
    atomic_init(&p->spawn_lock.word, 0);
    atomic_init(&p->join_lock.word, 0);
    *pp = p;
    return 0;
}

static int wf_closed_error(uint32_t closed)
{
    return closed & WF_POOL_BROKEN ? EPIPE : ESHUTDOWN;
}

/* A submit with room taken: make the task and queue it. */
static int wf_pool_enqueue(weft_pool *p, struct wf_worker *self, weft_task_fn fn, void *arg,
                           weft_future **fut)
{
    int r;
    /* relaxed: a hint; wf_maybe_spawn decides under its lock. */
    if (atomic_load_explicit(&p->n_workers, memory_order_relaxed) < p->max_workers &&
        (r = wf_maybe_spawn(p)) != 0) {
        wf_pool_unpend(p);
        return r;
    }
    /* The queue's reference, and the caller's for a submit. */
    weft_future *f = wf_future_new(fut ? 2 : 1, fut ? 0 : WF_FUTURE_POST, &p->exec, fn, arg);
    if (!f) {
        wf_pool_unpend(p);
        return ENOMEM;
    }
    /* The submitter's work happens before the task starts: told to TSan on the
     * future, which the deques and the injection queue hand on (src/tsan.h). */
    wf_tsan_release(f);
    /* Published before the push, so a task may read its own future from *fut; a
     * failed push puts back what was there (a failed submit changes nothing). */
    weft_future *before = fut ? *fut : NULL;
    if (fut)
        *fut = f;
    if (self && wf_deque_push(&self->deque, f)) {
        wf_pool_notify(p);
        return 0; /* we look at our own deque before we leave */
    }
    if (wf_inject_push(p->inject, f) != 0) {
        if (fut) {
            *fut = before;
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

/* Every submit: fut NULL makes a post. `poll`: no room is EAGAIN, not a wait.
 * *waited: as in wf_room_acquire. */
static int wf_pool_push(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut, bool poll,
                        weft_deadline d, bool *waited)
{
    struct wf_worker *self = wf_pool_is_own_worker(p) ? wf_worker_self : NULL;
    /* relaxed: an early answer; the seq_cst re-read after the push decides. */
    uint32_t closed = atomic_load_explicit(&p->closed, memory_order_relaxed);
    if (closed)
        return wf_closed_error(closed);
    int r = wf_room_acquire(p, self != NULL, poll, d, waited);
    return r ? r : wf_pool_enqueue(p, self, fn, arg, fut);
}

/* The end of a public call that waited for room (waited): its last touch of p. */
static inline void wf_pool_done_waiting(weft_pool *p, bool waited)
{
    if (waited)
        /* release: a destroy that reads the count (acquire) frees the pool only
         * after our uses of it. */
        atomic_fetch_sub_explicit(&p->submits_waiting, 1, memory_order_release);
}

/* A submit or post as one public call. */
static int wf_pool_submit_one(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut,
                              bool poll, weft_deadline d)
{
    bool waited = false;
    int r = wf_pool_push(p, fn, arg, fut, poll, d, &waited);
    wf_pool_done_waiting(p, waited);
    return r;
}

/* Whether an `_until` submit only polls for room: its deadline has passed (EAGAIN,
 * as a timeout of 0), unless its token has fired, which is ECANCELED once the call
 * would wait (wf_room_acquire's deadline check: room there is still taken). */
static bool wf_until_polls(weft_deadline d)
{
    return weft_deadline_passed(d) && !wf_cancelled(d);
}

int weft_pool_submit_until(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut,
                           weft_deadline d)
{
    if (!p || !fn || !fut)
        return EINVAL;
    return wf_cancel_result(wf_pool_submit_one(p, fn, arg, fut, wf_until_polls(d), d), d);
}

int weft_pool_submit_for(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut,
                         int64_t timeout_ns)
{
    if (!p || !fn || !fut)
        return EINVAL;
    return wf_pool_submit_one(p, fn, arg, fut, timeout_ns == 0, weft_deadline_in(timeout_ns));
}

int weft_pool_submit(weft_pool *p, weft_task_fn fn, void *arg, weft_future **fut)
{
    return weft_pool_submit_until(p, fn, arg, fut, WEFT_DEADLINE_NEVER);
}

int weft_pool_post_until(weft_pool *p, weft_task_fn fn, void *arg, weft_deadline d)
{
    if (!p || !fn)
        return EINVAL;
    return wf_cancel_result(wf_pool_submit_one(p, fn, arg, NULL, wf_until_polls(d), d), d);
}

int weft_pool_post_for(weft_pool *p, weft_task_fn fn, void *arg, int64_t timeout_ns)
{
    if (!p || !fn)
        return EINVAL;
    return wf_pool_submit_one(p, fn, arg, NULL, timeout_ns == 0, weft_deadline_in(timeout_ns));
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
    bool waited = false;
    int r = 0;
    for (; submitted < n; submitted++) {
        /* Waiting for room shares the map's deadline: running out is a timeout, its
         * token firing ECANCELED. */
        r = wf_cancel_result(wf_pool_push(p, fn, args[submitted], &fs[submitted], false, d,
                                          &waited),
                             d);
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
    wf_pool_done_waiting(p, waited); /* after the cancels, which may unpend */
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
    /* A thread that is no worker (a submitter running leftovers, destroy) is pinned
     * while it runs tasks, as workers are: weft_thread_exit in a task gets EPERM.
     * Inside a task (a drain from a task run by a drain) it is pinned already, and
     * stays so until the outer drain is done. */
    bool pin = how == WF_DRAIN_RUN && !wf_worker_self && !wf_running_top;
    if (pin)
        wf_thread_set_pinned(true);
    for (int i = 0; i < WF_INJECT_SHARDS; i++) {
        weft_future *f;
        while ((f = wf_inject_drain_one(&p->inject[i]))) {
            if (how == WF_DRAIN_RUN)
                wf_run_task(p, NULL, f);
            else
                wf_discard(p, f, how == WF_DRAIN_FAIL);
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
    if (pin)
        wf_thread_set_pinned(false);
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
    /* acquire: pairs with the release decrement of a submit that waited, so its
     * uses of the pool happen before the free below. */
    if (atomic_load_explicit(&p->submits_waiting, memory_order_acquire) != 0)
        return EBUSY;
    weft_pool_shutdown(p, true, false);
    /* Nothing is left (the workers left with the queues empty, and a submit that
     * pushed after that ran its task itself); should a task remain, run it. */
    wf_pool_drain(p, WF_DRAIN_RUN);
    uint32_t n = atomic_load_explicit(&p->n_workers, memory_order_relaxed); /* all joined */
    for (uint32_t i = 0; i < n; i++) {
        weft_thread_release(p->workers[i]->thread);
        free(p->workers[i]);
    }
    wf_inject_destroy(p->inject);
    wf_pool_free(p);
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
