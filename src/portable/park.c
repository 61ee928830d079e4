/* The wait layer on pthreads alone: a parking lot (WebKit's WTF::ParkingLot, Rust's
 * parking_lot), so that every primitive runs the same algorithm as on futexes.
 *
 * Layout: a fixed table of buckets hashed by word address. Each bucket is a mutex
 * and a FIFO list of the waiters parked on any word that hashes to it. A waiter
 * lives on its sleeper's stack and has its own condition variable (clocked on
 * CLOCK_MONOTONIC), so wf_wake(n) wakes exactly n chosen threads.
 *
 * Invariants:
 *  - a waiter is linked in bucket_of(waiter->addr), and both fields change only
 *    under that bucket's mutex (requeue holds both buckets' mutexes);
 *  - `woken` is set, and the waiter's condition signalled, under the mutex of the
 *    bucket the waiter is linked in; the sleeper reads `woken` under the same
 *    mutex, so once it sees it set the waker is done with the waiter's memory.
 *
 * Lost wakeup: the sleeper compares *word with `expected` and links itself while
 * holding the bucket mutex; a waker changes *word first and then takes the same
 * mutex to wake, so either the sleeper sees the new value or the waker finds it
 * in the list. */
#include "../internal.h"

#include <pthread.h>

#define WF_BUCKET_BITS 8
#define WF_BUCKETS (1u << WF_BUCKET_BITS)

struct wf_waiter {
    struct wf_waiter *next, *prev;
    _Atomic(const _Atomic uint32_t *) addr; /* changes only under both buckets' mutexes */
    _Atomic bool woken;                    /* written under the current bucket's mutex */
    pthread_cond_t cond;
};

struct wf_bucket {
    pthread_mutex_t lock;
    struct wf_waiter *head, *tail;
} __attribute__((aligned(64)));

static struct wf_bucket wf_buckets[WF_BUCKETS];
static pthread_condattr_t wf_monotonic_attr;
static pthread_once_t wf_lot_once = PTHREAD_ONCE_INIT;

static void wf_lot_init(void)
{
    for (unsigned i = 0; i < WF_BUCKETS; i++)
        pthread_mutex_init(&wf_buckets[i].lock, NULL);
    pthread_condattr_init(&wf_monotonic_attr);
    pthread_condattr_setclock(&wf_monotonic_attr, CLOCK_MONOTONIC);
}

static struct wf_bucket *wf_bucket_of(const _Atomic uint32_t *addr)
{
    /* Fibonacci hashing: the words of one object sit a few bytes apart. */
    uint64_t h = (uint64_t)(uintptr_t)addr * UINT64_C(0x9E3779B97F4A7C15);
    return &wf_buckets[h >> (64 - WF_BUCKET_BITS)];
}

static void wf_link(struct wf_bucket *b, struct wf_waiter *w)
{
    w->next = NULL;
    w->prev = b->tail;
    if (b->tail)
        b->tail->next = w;
    else
        b->head = w;
    b->tail = w;
}

static void wf_unlink(struct wf_bucket *b, struct wf_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        b->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        b->tail = w->prev;
}

/* Locks the bucket `w` is linked in; loops because a requeue may move it between
 * our read of w->addr and our taking the mutex. */
static struct wf_bucket *wf_lock_home(struct wf_waiter *w)
{
    for (;;) {
        /* relaxed: re-validated under the bucket mutex just below. */
        const _Atomic uint32_t *a = atomic_load_explicit(&w->addr, memory_order_relaxed);
        struct wf_bucket *b = wf_bucket_of(a);
        pthread_mutex_lock(&b->lock);
        if (atomic_load_explicit(&w->addr, memory_order_relaxed) == a)
            return b;
        pthread_mutex_unlock(&b->lock);
    }
}

/* Marks `w` woken and signals it; the caller holds w's bucket mutex and has unlinked it. */
static void wf_release_waiter(struct wf_waiter *w)
{
    atomic_store_explicit(&w->woken, true, memory_order_relaxed);
    pthread_cond_signal(&w->cond);
}

int wf_wait(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d)
{
    if (d.ns != INT64_MAX && d.ns <= weft_now_ns())
        return ETIMEDOUT;
    pthread_once(&wf_lot_once, wf_lot_init);

    struct wf_waiter w;
    atomic_init(&w.addr, word);
    atomic_init(&w.woken, false);
    struct wf_bucket *b = wf_bucket_of(word);
    pthread_mutex_lock(&b->lock);
    /* relaxed: the bucket mutex orders this load after any waker's change that
     * happened before its wake (the waker takes this mutex to wake). */
    if (atomic_load_explicit(word, memory_order_relaxed) != expected) {
        pthread_mutex_unlock(&b->lock);
        return 0;
    }
    pthread_cond_init(&w.cond, &wf_monotonic_attr);
    wf_link(b, &w);

    struct timespec ts = wf_timespec(d);
    int r = 0, result = 0;
    for (;;) {
        if (atomic_load_explicit(&w.woken, memory_order_relaxed))
            break;
        if (r == ETIMEDOUT) {
            wf_unlink(b, &w);
            result = ETIMEDOUT;
            break;
        }
        r = d.ns == INT64_MAX ? pthread_cond_wait(&w.cond, &b->lock)
                              : pthread_cond_timedwait(&w.cond, &b->lock, &ts);
        if (wf_bucket_of(atomic_load_explicit(&w.addr, memory_order_relaxed)) != b) {
            pthread_mutex_unlock(&b->lock); /* requeued meanwhile: follow it */
            b = wf_lock_home(&w);
        }
    }
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&w.cond);
    return result;
}

/* Wakes up to n waiters of `word` in bucket `b` (locked); returns how many. */
static int wf_wake_locked(struct wf_bucket *b, const _Atomic uint32_t *word, int n)
{
    int woken = 0;
    for (struct wf_waiter *w = b->head, *next; w && woken < n; w = next) {
        next = w->next;
        if (atomic_load_explicit(&w->addr, memory_order_relaxed) != word)
            continue;
        wf_unlink(b, w);
        wf_release_waiter(w);
        woken++;
    }
    return woken;
}

int wf_wake(const _Atomic uint32_t *word, int n)
{
    pthread_once(&wf_lot_once, wf_lot_init);
    struct wf_bucket *b = wf_bucket_of(word);
    pthread_mutex_lock(&b->lock);
    int woken = wf_wake_locked(b, word, n);
    pthread_mutex_unlock(&b->lock);
    return woken;
}

int wf_requeue(const _Atomic uint32_t *from, uint32_t expected, int n_wake,
               const _Atomic uint32_t *to, int n_move)
{
    pthread_once(&wf_lot_once, wf_lot_init);
    struct wf_bucket *bf = wf_bucket_of(from), *bt = wf_bucket_of(to);
    /* Two bucket mutexes are always taken in address order: no lock-order cycle. */
    struct wf_bucket *first = bf < bt ? bf : bt, *second = bf < bt ? bt : bf;
    pthread_mutex_lock(&first->lock);
    if (second != first)
        pthread_mutex_lock(&second->lock);

    int done;
    if (atomic_load_explicit(from, memory_order_relaxed) != expected) {
        done = -EAGAIN;
    } else {
        done = wf_wake_locked(bf, from, n_wake);
        int moved = 0;
        for (struct wf_waiter *w = bf->head, *next; w && moved < n_move; w = next) {
            next = w->next;
            if (atomic_load_explicit(&w->addr, memory_order_relaxed) != from)
                continue;
            wf_unlink(bf, w);
            atomic_store_explicit(&w->addr, to, memory_order_relaxed);
            wf_link(bt, w);
            moved++;
        }
        done += moved;
    }
    if (second != first)
        pthread_mutex_unlock(&second->lock);
    pthread_mutex_unlock(&first->lock);
    return done;
}
