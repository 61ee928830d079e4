/* weft_timer: every timer served by one shared service thread.
 *
 * Layout. One service (wf_timers) for the process: a weft_lock guarding a
 * binary min-heap of pending timers (the house's heap, src/heap.h, over an array
 * of pointers, ordered by due time then start order; each timer keeps its slot in
 * heap_index, so cancel removes it in O(log n) without a search), the service thread's bookkeeping, and two
 * words threads sleep on: `wake` (the service thread, until the earliest due
 * time) and `ran` (cancellers, until the function they cancel has returned).
 * The timer states are in include/weft/timer.h; they change under the lock.
 *
 * The service thread starts on the first start() that finds none, runs while
 * timers are pending, and exits (freeing the heap) when the heap is empty; the
 * next start() starts a new one. It sleeps on `wake` with the earliest due time
 * as its absolute deadline, fires a timer only once CLOCK_MONOTONIC has reached
 * its due time (so never early, whatever woke it), and calls the function with
 * the lock released, never touching the timer after the call (the function may
 * free or restart it).
 *
 * Under ThreadSanitizer the service's lock is bookkeeping (src/tsan.h): its
 * critical sections run with TSan's sync and access tracking off, so that two
 * threads using timers are not ordered by it (nor is the thread that happened to
 * spawn the service before every later function). The edges a user is owed are
 * told: a start happens before its function (on the timer's address), and a
 * function's return before a cancel that waited for it or found it FIRED (on
 * `ran`). */
#include "heap.h"
#include "tsan.h"
#include "waiting.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

extern inline bool weft_timer_pending(const weft_timer *t);

enum { WF_TIMER_HEAP_MIN = 64 }; /* first heap capacity, in timers */

static struct {
    weft_lock lock;             /* guards every field but the two words */
    weft_timer **heap;          /* heap[0] is due first; NULL while no thread runs */
    size_t len, cap;
    uint64_t next_seq;          /* the next start's tie-breaking order */
    bool thread_alive;          /* a service thread runs (it clears this as it exits) */
    bool sleeping;              /* it sleeps on `wake` (or is about to) */
    const weft_timer *running;  /* whose function runs now, or NULL */
    uint32_t cancel_waiters;    /* cancellers sleeping on `ran` */
    _Atomic uint32_t wake;      /* bumped to wake the service thread */
    _Atomic uint32_t ran;       /* bumped when a function returned and cancellers wait */
} wf_timers;

/* The service's lock, taken as bookkeeping (see the top of the file). */
static void wf_timers_lock(void)
{
    wf_tsan_ignore_begin();
    weft_lock_acquire(&wf_timers.lock);
}

static void wf_timers_unlock(void)
{
    weft_lock_release(&wf_timers.lock);
    wf_tsan_ignore_end();
}

/* True on the service thread, where cancel must not wait for the running function
 * (it would wait for itself). */
static _Thread_local bool wf_timer_on_service;

/* ---- the heap (under the lock) --------------------------------------------------- */

static bool wf_timer_before(const void *a, const void *b)
{
    const weft_timer *x = *(weft_timer *const *)a, *y = *(weft_timer *const *)b;
    return x->due_ns < y->due_ns || (x->due_ns == y->due_ns && x->seq < y->seq);
}

/* Each timer keeps its slot, so that cancel removes it without a search. */
static void wf_timer_placed(void *elem, size_t index)
{
    (*(weft_timer **)elem)->heap_index = (uint32_t)index;
}

static const wf_heap_ops wf_timer_heap = {
    .size = sizeof(weft_timer *),
    .before = wf_timer_before,
    .placed = wf_timer_placed,
};

/* Makes room for one more timer: 0 or ENOMEM (nothing changed). */
static int wf_heap_reserve(void)
{
    if (wf_timers.len == wf_timers.cap) {
        if (wf_timers.cap > UINT32_MAX / 2) /* heap_index is 32 bits */
            return ENOMEM;
        size_t cap = wf_timers.cap ? 2 * wf_timers.cap : WF_TIMER_HEAP_MIN;
        weft_timer **heap = realloc(wf_timers.heap, cap * sizeof *heap);
        if (!heap)
            return ENOMEM;
        wf_timers.heap = heap;
        wf_timers.cap = cap;
    }
    return 0;
}

static void wf_heap_take(uint32_t i)
{
    wf_heap_remove(&wf_timer_heap, wf_timers.heap, &wf_timers.len, i, NULL);
}

/* Marks the service thread's sleep as interrupted; the caller calls wf_wake on
 * `wake` once it has released the lock. */
static void wf_timer_poke(void)
{
    wf_timers.sleeping = false;
    /* relaxed: the service thread reads it under the lock, or compares it in wf_sleep. */
    atomic_fetch_add_explicit(&wf_timers.wake, 1, memory_order_relaxed);
}

/* ---- the service thread ---------------------------------------------------------- */

static void *wf_timer_service(void *unused)
{
    (void)unused;
    wf_timer_on_service = true;
    wf_timers_lock();
    while (wf_timers.len > 0) {
        weft_timer *t = wf_timers.heap[0];
        int64_t due = t->due_ns;
        if (weft_now_ns() >= due) {
            wf_heap_take(0);
            /* relaxed: the lock orders it; weft_timer_pending is a snapshot. */
            atomic_store_explicit(&t->state, WEFT_TIMER_FIRED, memory_order_relaxed);
            void (*fn)(void *) = t->fn;
            void *arg = t->arg;
            wf_timers.running = t;
            wf_tsan_ignore_end();
            wf_tsan_acquire(t); /* its start happens before fn */
            wf_tsan_ignore_begin();
            wf_timers_unlock();
            fn(arg); /* t may be freed or restarted from here on: never touched again */
            /* fn's return happens before a cancel that waited for it or sees FIRED
             * (on `ran`: t itself may be gone). */
            wf_tsan_release(&wf_timers.ran);
            wf_timers_lock();
            wf_timers.running = NULL;
            if (wf_timers.cancel_waiters > 0) {
                /* relaxed: the cancellers re-take the lock before they look. */
                atomic_fetch_add_explicit(&wf_timers.ran, 1, memory_order_relaxed);
                wf_timers_unlock();
                /* Lost wakeup avoided: a canceller counted itself and read `ran`
                 * under the lock before we bumped it, so its wf_sleep sees the new
                 * value or this wake finds it. */
                wf_wake(&wf_timers.ran, INT_MAX);
                wf_timers_lock();
            }
            continue;
        }
        /* relaxed: read under the lock, which starters bump it under. */
        uint32_t seen = atomic_load_explicit(&wf_timers.wake, memory_order_relaxed);
        wf_timers.sleeping = true;
        wf_timers_unlock();
        /* Lost wakeup avoided: a start that puts an earlier timer first (or a
         * cancel that empties the heap) finds `sleeping` set under the lock and
         * bumps `wake` before its wf_wake; we read `wake` under the lock before,
         * so wf_sleep either sees it changed or is woken. Returning at the
         * deadline or spuriously is harmless: the loop looks at the clock. */
        wf_sleep(&wf_timers.wake, seen, weft_deadline_at(due));
        wf_timers_lock();
        wf_timers.sleeping = false;
    }
    wf_timers.thread_alive = false;
    free(wf_timers.heap);
    wf_timers.heap = NULL;
    wf_timers.cap = 0;
    wf_timers_unlock();
    return NULL;
}

/* Starts a detached service thread with asynchronous signals blocked (they belong
 * to the application's threads; faults still reach it). */
static int wf_timer_spawn(void)
{
    pthread_attr_t attr;
    int rc = pthread_attr_init(&attr);
    if (rc != 0)
        return rc;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    sigset_t blocked, saved;
    sigfillset(&blocked);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&blocked, faults[i]);
    pthread_sigmask(SIG_SETMASK, &blocked, &saved);
    pthread_t th;
    rc = pthread_create(&th, &attr, wf_timer_service, NULL);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

/* ---- the API --------------------------------------------------------------------- */

int weft_timer_start_at(weft_timer *t, weft_deadline d, void (*fn)(void *), void *arg)
{
    if (!t || !fn || d.ns == INT64_MAX)
        return EINVAL;
    wf_timers_lock();
    /* relaxed: every change of state happens under this lock. */
    if (atomic_load_explicit(&t->state, memory_order_relaxed) == WEFT_TIMER_PENDING) {
        wf_timers_unlock();
        return EBUSY;
    }
    /* Whatever can fail comes first, so that a failure leaves the timer as it was
     * (its last run's fn, arg and due time too). A new service thread waits for
     * the lock we hold, so it finds the timer in the heap. */
    int rc = wf_heap_reserve();
    if (rc == 0 && !wf_timers.thread_alive) {
        rc = wf_timer_spawn();
        if (rc == 0)
            wf_timers.thread_alive = true;
    }
    if (rc != 0) {
        wf_timers_unlock();
        return rc;
    }
    t->due_ns = d.ns;
    t->seq = wf_timers.next_seq++;
    t->fn = fn;
    t->arg = arg;
    wf_tsan_ignore_end();
    wf_tsan_release(t); /* what the caller did happens before fn (see the service) */
    wf_tsan_ignore_begin();
    wf_heap_push(&wf_timer_heap, wf_timers.heap, &wf_timers.len, &t);
    /* relaxed: as above. */
    atomic_store_explicit(&t->state, WEFT_TIMER_PENDING, memory_order_relaxed);
    bool poke = t->heap_index == 0 && wf_timers.sleeping; /* due before what it sleeps for */
    if (poke)
        wf_timer_poke();
    wf_timers_unlock();
    if (poke)
        wf_wake(&wf_timers.wake, 1); /* lost wakeup avoided: see wf_timer_service */
    return 0;
}

int weft_timer_start(weft_timer *t, int64_t timeout_ns, void (*fn)(void *), void *arg)
{
    if (timeout_ns < 0)
        return EINVAL;
    weft_deadline d = weft_deadline_in(timeout_ns);
    if (d.ns == INT64_MAX)
        d.ns = INT64_MAX - 1; /* saturated: due at the end of time, but due */
    return weft_timer_start_at(t, d, fn, arg);
}

int weft_timer_cancel(weft_timer *t)
{
    if (!t)
        return EINVAL;
    wf_timers_lock();
    int rc;
    bool poke = false;
    /* relaxed: every change of state happens under this lock. */
    switch (atomic_load_explicit(&t->state, memory_order_relaxed)) {
    case WEFT_TIMER_PENDING:
        wf_heap_take(t->heap_index);
        atomic_store_explicit(&t->state, WEFT_TIMER_CANCELLED, memory_order_relaxed);
        rc = 0;
        /* The last pending timer: let the service thread exit now rather than at
         * the due time it sleeps for. */
        poke = wf_timers.len == 0 && wf_timers.sleeping;
        if (poke)
            wf_timer_poke();
        break;
    case WEFT_TIMER_CANCELLED:
        rc = 0;
        break;
    case WEFT_TIMER_FIRED:
        rc = EBUSY;
        break;
    default:
        rc = EINVAL; /* never started */
        break;
    }
    /* Wait while its function runs elsewhere, so that the caller may free it. */
    while (rc != EINVAL && wf_timers.running == t && !wf_timer_on_service) {
        /* relaxed: read under the lock the service thread bumps it under. */
        uint32_t seen = atomic_load_explicit(&wf_timers.ran, memory_order_relaxed);
        wf_timers.cancel_waiters++;
        wf_timers_unlock();
        wf_sleep(&wf_timers.ran, seen, WEFT_DEADLINE_NEVER); /* lost wakeup: see the service */
        wf_timers_lock();
        wf_timers.cancel_waiters--;
    }
    wf_timers_unlock();
    if (rc == EBUSY)
        wf_tsan_acquire(&wf_timers.ran); /* fn has returned (see the service) */
    if (poke)
        wf_wake(&wf_timers.wake, 1); /* lost wakeup avoided: see wf_timer_service */
    return rc;
}

/* For the tests: whether a service thread runs now. */
WF_HIDDEN bool wf_timer_service_alive(void);
bool wf_timer_service_alive(void)
{
    wf_timers_lock();
    bool alive = wf_timers.thread_alive;
    wf_timers_unlock();
    return alive;
}
