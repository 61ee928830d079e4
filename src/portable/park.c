/* The parking lot: the wait layer on pthreads alone (WebKit's WTF::ParkingLot, Rust's
 * parking_lot), so that every primitive runs the same algorithm as on futexes. The
 * portable backend is this lot (wait.c); the Linux backend parks here only for a
 * wait on several words on a kernel without futex_waitv (src/linux/futex.c).
 *
 * Layout: a fixed table of buckets hashed by word address. Each bucket is a mutex and
 * a FIFO list of the records parked on any word that hashes to it. A sleeping thread
 * (a parker, on its stack) has its own condition variable (clocked on
 * CLOCK_MONOTONIC), so wf_lot_wake(n) wakes exactly n chosen threads. It has one
 * record per word it sleeps on: one for wf_lot_wait, n for wf_lot_wait_any, each
 * linked in the bucket of its word and all sharing the parker's `woken` flag.
 *
 * Invariants:
 *  - a record is linked in bucket_of(record->addr) while `linked`; linked and the
 *    link change only under that bucket's mutex (addr never changes);
 *  - a waker unlinks each record it wakes, under its bucket's mutex;
 *  - one word: `woken` is set, and the condition signalled, under the mutex of the
 *    bucket the record is linked in; the sleeper reads it under the same mutex, so
 *    once it sees it set the waker is done with the parker;
 *  - several words: `woken` is set under the parker's own mutex, by a waker that
 *    holds the bucket of the record it wakes. After it wakes, the sleeper takes the
 *    bucket of each of its records in turn and unlinks those still linked; then no
 *    waker is left that can reach the parker, and it reads `woken` for its answer
 *    (a wake that raced its timeout counts as a wake, as futex_waitv reports it).
 *
 * Lock order: a bucket's mutex before a parker's own mutex; never two buckets. A
 * sleeper on several words holds one bucket at a time and never its own mutex with
 * a bucket, so no cycle can form.
 *
 * Wake counts: a parker already woken through another of its words is unlinked but
 * not counted, so a wake(1) is never spent on a thread that has already been woken
 * (the wakeup goes to the next sleeper instead).
 *
 * Lost wakeup: the sleeper compares each *word with its expected value and links its
 * record in one hold of the word's bucket mutex; a waker changes *word first and then
 * takes the same mutex to wake, so either the sleeper sees the new value or the waker
 * finds its record. */
#include "park.h"

#include "../list.h"

#include <pthread.h>

#define WF_BUCKET_BITS 8
#define WF_BUCKETS (1u << WF_BUCKET_BITS)

/* One sleeping thread. */
struct wf_parker {
    pthread_cond_t cond;
    pthread_mutex_t own; /* several words only: guards woken */
    bool several;        /* set before the first record is linked, read-only after */
    bool woken;          /* see the invariants: under a bucket's mutex, or under own */
};

/* One word a parker sleeps on. */
struct wf_parked {
    wf_list_node link;             /* in bucket_of(addr) while linked */
    const _Atomic uint32_t *addr; /* the word: set before linking, never changed */
    struct wf_parker *parker;
    bool linked;
};

struct wf_bucket {
    pthread_mutex_t lock;
    wf_list parked; /* of struct wf_parked, oldest first */
} __attribute__((aligned(WF_CACHE_LINE)));

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
    return &wf_buckets[wf_hash_address(addr, WF_BUCKET_BITS)];
}

static void wf_park(struct wf_bucket *b, struct wf_parked *rec)
{
    wf_list_push_back(&b->parked, &rec->link);
    rec->linked = true;
}

static void wf_unpark(struct wf_bucket *b, struct wf_parked *rec)
{
    wf_list_remove(&b->parked, &rec->link);
    rec->linked = false;
}

/* Marks rec's parker woken and signals it; the caller holds rec's bucket mutex and
 * has unlinked rec. Returns false if the parker had already been woken (through
 * another of its words): this wake then did not reach anyone. */
static bool wf_release(struct wf_parked *rec)
{
    struct wf_parker *p = rec->parker;
    if (!p->several) {
        p->woken = true;
        pthread_cond_signal(&p->cond);
        return true;
    }
    pthread_mutex_lock(&p->own);
    bool first = !p->woken;
    p->woken = true;
    if (first)
        pthread_cond_signal(&p->cond);
    /* Our last touch of the parker: it frees it only after taking our bucket. */
    pthread_mutex_unlock(&p->own);
    return first;
}

static bool wf_deadline_over(weft_deadline d)
{
    return d.ns != INT64_MAX && d.ns <= weft_now_ns();
}

/* ---- one word ------------------------------------------------------------------- */

int wf_lot_wait(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d)
{
    if (wf_deadline_over(d))
        return ETIMEDOUT;
    pthread_once(&wf_lot_once, wf_lot_init);

    struct wf_parker p = {.several = false, .woken = false};
    struct wf_parked rec = {.addr = word, .parker = &p, .linked = false};
    struct wf_bucket *b = wf_bucket_of(word);
    pthread_mutex_lock(&b->lock);
    /* relaxed: the bucket mutex orders this load after any waker's change that
     * happened before its wake (the waker takes this mutex to wake). */
    if (atomic_load_explicit(word, memory_order_relaxed) != expected) {
        pthread_mutex_unlock(&b->lock);
        return 0;
    }
    pthread_cond_init(&p.cond, &wf_monotonic_attr);
    wf_park(b, &rec);

    struct timespec ts = wf_timespec(d);
    int r = 0, result = 0;
    for (;;) {
        if (p.woken)
            break;
        if (r == ETIMEDOUT) {
            wf_unpark(b, &rec);
            result = ETIMEDOUT;
            break;
        }
        r = d.ns == INT64_MAX ? pthread_cond_wait(&p.cond, &b->lock)
                              : pthread_cond_timedwait(&p.cond, &b->lock, &ts);
    }
    pthread_mutex_unlock(&b->lock);
    pthread_cond_destroy(&p.cond);
    return result;
}

/* ---- several words -------------------------------------------------------------- */

int wf_lot_wait_any(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                    weft_deadline d)
{
    if (n < 1 || n > WF_WAIT_ANY_MAX)
        return EINVAL;
    if (n == 1)
        return wf_lot_wait(words[0], expected[0], d);
    if (wf_deadline_over(d))
        return ETIMEDOUT;
    pthread_once(&wf_lot_once, wf_lot_init);

    struct wf_parker p = {.several = true, .woken = false};
    pthread_mutex_init(&p.own, NULL);
    pthread_cond_init(&p.cond, &wf_monotonic_attr);
    struct wf_parked recs[WF_WAIT_ANY_MAX];

    /* One bucket at a time: compare and link (the lost-wakeup step, see the top). */
    int linked = 0;
    bool changed = false;
    for (int i = 0; i < n; i++) {
        recs[i] = (struct wf_parked){.addr = words[i], .parker = &p, .linked = false};
        struct wf_bucket *b = wf_bucket_of(words[i]);
        pthread_mutex_lock(&b->lock);
        /* relaxed: ordered by the bucket mutex, as in wf_lot_wait. */
        changed = atomic_load_explicit(words[i], memory_order_relaxed) != expected[i];
        if (!changed)
            wf_park(b, &recs[i]);
        pthread_mutex_unlock(&b->lock);
        if (changed)
            break;
        linked++;
    }

    bool timed_out = false;
    if (!changed) {
        struct timespec ts = wf_timespec(d);
        pthread_mutex_lock(&p.own);
        int r = 0;
        while (!p.woken && r != ETIMEDOUT)
            r = d.ns == INT64_MAX ? pthread_cond_wait(&p.cond, &p.own)
                                  : pthread_cond_timedwait(&p.cond, &p.own, &ts);
        timed_out = r == ETIMEDOUT;
        pthread_mutex_unlock(&p.own);
    }

    /* Unlink what no waker has: once every bucket has been taken here, no waker is
     * left that could still reach the parker. */
    for (int i = 0; i < linked; i++) {
        struct wf_bucket *b = wf_bucket_of(recs[i].addr);
        pthread_mutex_lock(&b->lock);
        if (recs[i].linked)
            wf_unpark(b, &recs[i]);
        pthread_mutex_unlock(&b->lock);
    }
    /* Final now: every waker set it before releasing a bucket taken above. */
    bool woken = p.woken;
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.own);
    return timed_out && !woken ? ETIMEDOUT : 0;
}

/* ---- waking ----------------------------------------------------------------------- */

/* Wakes up to n parkers of `word` in bucket `b` (locked), oldest first; returns how
 * many. */
static int wf_wake_locked(struct wf_bucket *b, const _Atomic uint32_t *word, int n)
{
    int woken = 0;
    WF_LIST_FOREACH(node, next, &b->parked) {
        if (woken >= n)
            break;
        struct wf_parked *rec = WF_CONTAINER(node, struct wf_parked, link);
        if (rec->addr != word)
            continue;
        wf_unpark(b, rec);
        if (wf_release(rec))
            woken++;
    }
    return woken;
}

int wf_lot_wake(const _Atomic uint32_t *word, int n)
{
    pthread_once(&wf_lot_once, wf_lot_init);
    struct wf_bucket *b = wf_bucket_of(word);
    pthread_mutex_lock(&b->lock);
    int woken = wf_wake_locked(b, word, n);
    pthread_mutex_unlock(&b->lock);
    return woken;
}
