/* weft_cond: Python's Condition, written once over the waiting core.
 *
 * Layout. The 4-byte condition word counts its waiters (include/weft/cond.h).
 * The waiters queue, oldest first, in a table of buckets hashed by the
 * condition's address (WebKit's ParkingLot, for conditions only): a bucket is a
 * weft_lock and a list (src/list.h) of wf_cond_waiter records that live on the
 * waiting threads' stacks. Each waiter sleeps on its own `state` word, so a
 * notifier wakes exactly the threads it chose: notify(n) unlinks the n oldest
 * records of its condition. That is what makes Python's semantics cheap: a
 * notify(1) wakes exactly one waiter, and never one that arrived after it (the
 * stolen wakeup of glibc bug 25847 cannot happen: there is no shared sequence
 * number for a newcomer to consume).
 *
 * A waiter's state word (wf_cond_waiter.state):
 *
 *   SPINNING   queued; polling its state for a moment before it sleeps
 *   ASLEEP     queued; sleeping (or about to) on `state` and on its bucket's
 *              broadcast word: a notifier must wake it
 *   NOTIFIED   unlinked by a notify that woke it alone: it re-takes the lock the
 *              ordinary way (spin, then sleep)
 *   BROADCAST  unlinked by a notify that took every waiter of its condition (a
 *              notify_all): woken with the others by one wake, it re-takes the
 *              lock without spinning on it (wf_lock_acquire_woken)
 *
 * Invariants:
 *  - a record is linked iff its state is SPINNING or ASLEEP. Links, the
 *    condition word, the broadcast word and every change a notifier makes to a
 *    state happen under the bucket lock; the waiter itself only ever moves
 *    SPINNING -> ASLEEP.
 *  - a notifier uses a record only under the bucket lock, and not after the
 *    store that gives it its final state (NOTIFIED, BROADCAST), except to pass
 *    its address to wf_wake (which never dereferences it: a wake of a stale
 *    address is at worst a spurious wakeup, which every waiter absorbs). A waiter
 *    leaves (its record goes out of scope) only after reading a final state with
 *    acquire, or after unlinking itself under the bucket lock.
 *
 * Lost wakeup. A waiter queues itself and counts itself in the condition word
 * under the bucket lock BEFORE it releases the user's lock; a notifier that
 * changed the waited-for state under the user's lock after that finds it queued.
 * Between queueing and sleeping, see wf_cond_sleep.
 *
 * notify_all: one wake for every sleeper. Each sleeper also sleeps on its bucket's
 * broadcast word (wf_sleep_any on both words), so a notify that takes all of its
 * condition's waiters bumps that word and wakes them all with one system call,
 * where one wake per waiter would cost the notifier a call each (eight waiters:
 * 2x its CPU). They are woken at once rather than moved onto the lock word to take
 * it in a chain: on a machine with fewer CPUs than waiters the chain is a sleep and
 * a wake per waiter, each onto a CPU that has just gone idle, while woken together
 * they are runnable together and the scheduler runs them back to back (eight
 * waiters on 2 CPUs: 1.5x pthread_cond_broadcast's round moved, 0.9-1.0x woken;
 * BENCHMARKS.md). The stampede that waking costs is kept off the lock: a woken
 * waiter does not spin on a held lock (its holder may be the very thread the wake
 * preempted) but yields, then sleeps on the lock word. Sleepers of other
 * conditions hashed to the bucket take the wake as a spurious one.
 *
 * Cancellation (weft/cancel.h). A waiter whose token fires gives up as on a
 * timeout: it unlinks itself unless a notifier got to it first (then the notify is
 * its own, and it returns 0), and re-takes the lock with no deadline, so the
 * notifies it did not take go to others. The public entries say ECANCELED for the
 * token's timeouts. */
#include "lockdep.h"
#include "waiting.h"

extern inline int weft_cond_notify(weft_cond *c, int n);
extern inline int weft_cond_notify_all(weft_cond *c);
extern inline bool weft_cond_waiting(const weft_cond *c);

enum wf_cond_state {
    WF_COND_SPINNING = 0,
    WF_COND_ASLEEP = 1,
    WF_COND_NOTIFIED = 2,
    WF_COND_BROADCAST = 3,
};

enum {
    WF_COND_BUCKET_BITS = 7,
    WF_COND_BUCKETS = 1 << WF_COND_BUCKET_BITS,
    WF_COND_WAKE_BATCH = 16, /* wakes a notify defers until the bucket is unlocked */
};

typedef struct wf_cond_waiter {
    wf_list_node link;      /* in the bucket's list, under the bucket lock */
    const weft_cond *cond;  /* which condition it waits on */
    _Atomic uint32_t state; /* enum wf_cond_state; its own sleep word */
} wf_cond_waiter;

typedef struct wf_cond_bucket {
    weft_lock lock;
    wf_list waiters; /* oldest first, of every condition hashed here */
    /* Bumped by every notify that wakes all of a condition's waiters at once,
     * under `lock`; its sleepers also sleep on it (see the top). */
    _Atomic uint32_t broadcasts;
} __attribute__((aligned(WF_CACHE_LINE))) wf_cond_bucket;

/* All-zero: unlocked, empty. */
static wf_cond_bucket wf_cond_buckets[WF_COND_BUCKETS];

static wf_cond_bucket *wf_cond_bucket_of(const weft_cond *c)
{
    return &wf_cond_buckets[wf_hash_address(c, WF_COND_BUCKET_BITS)];
}

/* The condition word changes only under the bucket lock, so a load and a store
 * do (no read-modify-write needed). The load is relaxed: the bucket lock orders
 * it. The store is release for weft_cond_waiting's acquire: whoever sees a count
 * drop sees the thread that dropped it done with c (notify's lock-free read needs
 * no more than relaxed: the user's lock orders it, see weft_cond_notify). */
static void wf_cond_count(weft_cond *c, int32_t delta)
{
    uint32_t n = atomic_load_explicit(&c->waiters, memory_order_relaxed);
    atomic_store_explicit(&c->waiters, n + (uint32_t)delta, memory_order_release);
}

/* ---- waiting -------------------------------------------------------------------- */

/* Waits, queued as `w`, until a notifier gives w a final state or `d` passes.
 * `first`: w queued with no other waiter of its condition ahead of it. Returns the
 * final state, or WF_COND_ASLEEP when it timed out (and unlinked itself). */
static uint32_t wf_cond_sleep(wf_cond_bucket *b, wf_cond_waiter *w, bool first,
                              weft_deadline d)
{
    uint32_t s;
    /* A notify within a few microseconds (ping-pong, a handoff to a thread on
     * another core) then costs no system call on either side. Only the first in
     * line polls: notify takes the oldest waiters, so one queued behind others
     * waits for the notifies they take first, or a notify_all, which wakes it
     * with the others anyway. And it polls between yields, not pauses: where
     * nothing else wants this CPU a yield returns at once (a poll every few
     * hundred nanoseconds), and where threads the notify waits for do (a
     * notify_all's eight waiters on 2 CPUs, the first back in line waiting for
     * the other seven), it hands them the CPU a pause loop would have held: on 2
     * CPUs the ping-pong's round trip went from 2.1 to 0.9 us and the notify_all
     * round from 24 to 17 us against pause spinning (BENCHMARKS.md). */
    wf_spinner spin = wf_spinner_start(WF_SPIN_YIELD_ONLY);
    do {
        /* acquire: a final state ends the notifier's use of our record. */
        s = atomic_load_explicit(&w->state, memory_order_acquire);
        if (s != WF_COND_SPINNING)
            return s;
    } while (first && !wf_cancelled(d) && wf_spin(&spin)); /* a fired token: straight to its exit */
    for (;;) {
        /* Lost wakeup avoided, for both ways to be woken:
         *  - a notify that wakes us alone changes our state before it wakes it: if
         *    it read SPINNING, our CAS to ASLEEP fails and we never sleep; if it
         *    read ASLEEP, either the sleep's compare sees the new state or the wake
         *    finds us queued;
         *  - a broadcast gives every state its final value, then bumps the
         *    broadcast word (release), then wakes it. We load that word (acquire)
         *    before our state: if we see the bump we see our final state and do not
         *    sleep; if not, either the sleep's compare sees the bump or the wake
         *    finds us queued on the word. */
        uint32_t seen = atomic_load_explicit(&b->broadcasts, memory_order_acquire);
        /* acquire: as above, a final state ends the notifier's use of our record. */
        s = atomic_load_explicit(&w->state, memory_order_acquire);
        /* acquire on failure: the final state read (as above); C11 wants success
         * at least as strong (announcing a sleeper would need only relaxed). */
        if (s == WF_COND_SPINNING &&
            atomic_compare_exchange_strong_explicit(&w->state, &s, WF_COND_ASLEEP,
                                                    memory_order_acquire, memory_order_acquire))
            s = WF_COND_ASLEEP;
        if (s != WF_COND_ASLEEP)
            break;
        const _Atomic uint32_t *words[2] = {&w->state, &b->broadcasts};
        uint32_t expected[2] = {WF_COND_ASLEEP, seen};
        int rc = wf_sleep_any(words, expected, 2, d);
        s = atomic_load_explicit(&w->state, memory_order_acquire); /* acquire: as above */
        if (s != WF_COND_ASLEEP)
            break;
        if (rc == ETIMEDOUT) {
            /* Unlink ourselves, unless a notifier got us first: then its notify
             * is ours (the bucket lock orders its store before our load). */
            weft_lock_acquire(&b->lock);
            /* relaxed: a notifier stores our state under this lock. */
            s = atomic_load_explicit(&w->state, memory_order_relaxed);
            if (s == WF_COND_ASLEEP) {
                wf_list_remove(&b->waiters, &w->link);
                wf_cond_count((weft_cond *)w->cond, -1);
            }
            weft_lock_release(&b->lock);
            return s;
        }
        /* Woken for another condition's broadcast, or spuriously: sleep again. */
    }
    return s;
}

/* The common wait: queue, release the lock (fully, for an rlock), sleep, re-take
 * the lock. The caller checked the arguments and that the lock is held. A token
 * that fired before the call ends it at once, the lock never released: a wait
 * always blocks, and a cancelled one has nothing to wait for (weft/cancel.h). */
static int wf_cond_wait(weft_cond *c, weft_lock *l, weft_rlock *r, weft_deadline d)
{
    if (WF_UNLIKELY(wf_cancelled(d)))
        return ETIMEDOUT;
    wf_cond_bucket *b = wf_cond_bucket_of(c);
    wf_cond_waiter w = {.cond = c};
    atomic_init(&w.state, WF_COND_SPINNING);

    weft_lock_acquire(&b->lock);
    wf_list_push_back(&b->waiters, &w.link);
    /* relaxed: the bucket lock orders the count (see wf_cond_count). */
    bool first = atomic_load_explicit(&c->waiters, memory_order_relaxed) == 0;
    wf_cond_count(c, +1);
    weft_lock_release(&b->lock);

#ifdef WEFT_CHECKS
    uint32_t checked = wf_checks_cond_release(r ? (const void *)r : (const void *)l);
#endif
    /* The release and the re-take below are the library's, unseen by a TSan
     * program: told on the word its fast paths use (src/tsan.h). */
    wf_tsan_release(&l->word);
    uint32_t count = 0;
    if (r)
        count = wf_rlock_release_all(r);
    else
        weft_lock_release(l);

    uint32_t s = wf_cond_sleep(b, &w, first, d);

    /* The lock is re-taken whatever happened, with no deadline (as Python's). */
#ifdef WEFT_CHECKS
    wf_checks_cond_reacquire(r ? (const void *)r : (const void *)l, r != NULL, checked);
#endif
    if (s == WF_COND_BROADCAST)
        wf_lock_acquire_woken(l);
    else
        weft_lock_acquire(l);
    wf_tsan_acquire(&l->word);
    if (r)
        wf_rlock_restore(r, count);
    return s == WF_COND_ASLEEP ? ETIMEDOUT : 0;
}

/* As Python's wait_for; returns ETIMEDOUT when d passes or its token fires (the
 * public entries say ECANCELED for the token). */
static int wf_cond_wait_for(weft_cond *c, weft_lock *l, weft_rlock *r, bool (*pred)(void *),
                            void *arg, weft_deadline d)
{
    for (;;) {
        if (pred(arg))
            return 0;
        if (weft_deadline_passed(d))
            return ETIMEDOUT;
        if (wf_cond_wait(c, l, r, d) == ETIMEDOUT)
            return pred(arg) ? 0 : ETIMEDOUT;
    }
}

int weft_cond_wait_until(weft_cond *c, weft_lock *l, weft_deadline d)
{
    if (!c || !l)
        return EINVAL;
    if (!weft_lock_locked(l))
        return EPERM;
    return wf_cancel_result(wf_cond_wait(c, l, NULL, d), d);
}

int weft_cond_wait(weft_cond *c, weft_lock *l, int64_t timeout_ns)
{
    return weft_cond_wait_until(c, l, weft_deadline_in(timeout_ns));
}

int weft_cond_wait_for_until(weft_cond *c, weft_lock *l, bool (*pred)(void *), void *arg,
                             weft_deadline d)
{
    if (!c || !l || !pred)
        return EINVAL;
    if (!weft_lock_locked(l))
        return EPERM;
    return wf_cancel_result(wf_cond_wait_for(c, l, NULL, pred, arg, d), d);
}

int weft_cond_wait_for(weft_cond *c, weft_lock *l, bool (*pred)(void *), void *arg,
                       int64_t timeout_ns)
{
    return weft_cond_wait_for_until(c, l, pred, arg, weft_deadline_in(timeout_ns));
}

int weft_cond_wait_until_r(weft_cond *c, weft_rlock *r, weft_deadline d)
{
    if (!c || !r)
        return EINVAL;
    if (!weft_rlock_owned(r))
        return EPERM;
    return wf_cancel_result(wf_cond_wait(c, &r->lock, r, d), d);
}

int weft_cond_wait_r(weft_cond *c, weft_rlock *r, int64_t timeout_ns)
{
    return weft_cond_wait_until_r(c, r, weft_deadline_in(timeout_ns));
}

int weft_cond_wait_for_until_r(weft_cond *c, weft_rlock *r, bool (*pred)(void *), void *arg,
                               weft_deadline d)
{
    if (!c || !r || !pred)
        return EINVAL;
    if (!weft_rlock_owned(r))
        return EPERM;
    return wf_cancel_result(wf_cond_wait_for(c, &r->lock, r, pred, arg, d), d);
}

int weft_cond_wait_for_r(weft_cond *c, weft_rlock *r, bool (*pred)(void *), void *arg,
                         int64_t timeout_ns)
{
    return weft_cond_wait_for_until_r(c, r, pred, arg, weft_deadline_in(timeout_ns));
}

/* ---- notifying ------------------------------------------------------------------ */

/* Notify the n oldest waiters of c. One that takes them all, when more than one
 * sleeps, wakes them with one wake of the broadcast word (see the top); otherwise
 * each sleeper is woken on its own state word. */
static void wf_cond_notify(weft_cond *c, uint32_t n)
{
    wf_cond_bucket *b = wf_cond_bucket_of(c);
    const _Atomic uint32_t *deferred[WF_COND_WAKE_BATCH];
    int n_deferred = 0;

    weft_lock_acquire(&b->lock);
    /* relaxed: the bucket lock orders the count (see wf_cond_count). */
    uint32_t left = atomic_load_explicit(&c->waiters, memory_order_relaxed);
    /* All of them, and more than one: they contend for the lock once woken. */
    uint32_t state = n >= left && left > 1 ? WF_COND_BROADCAST : WF_COND_NOTIFIED;
    uint32_t taken = 0, asleep = 0;
    WF_LIST_FOREACH(node, next, &b->waiters) {
        if (taken == n || taken == left)
            break;
        wf_cond_waiter *w = WF_CONTAINER(node, wf_cond_waiter, link);
        if (w->cond != c)
            continue;
        wf_list_remove(&b->waiters, node);
        taken++;
        /* release: once the waiter reads its final state it may return and its
         * record vanish; everything we did to the record happens before. */
        if (atomic_exchange_explicit(&w->state, state, memory_order_release) != WF_COND_ASLEEP)
            continue;
        asleep++;
        /* Lost wakeup avoided: the state changed before this wake (see
         * wf_cond_sleep). Wakes wait until the bucket is unlocked, so the woken
         * thread does not run into our lock. */
        if (n_deferred < WF_COND_WAKE_BATCH)
            deferred[n_deferred++] = &w->state;
        else if (state == WF_COND_NOTIFIED)
            wf_wake(&w->state, 1);
    }
    wf_cond_count(c, -(int32_t)taken);
    bool broadcast = state == WF_COND_BROADCAST && asleep > 1;
    if (broadcast) {
        /* release: the final states above happen before a sleeper's acquire load
         * of the bumped word (wf_cond_sleep); the bucket lock serialises bumps. */
        uint32_t v = atomic_load_explicit(&b->broadcasts, memory_order_relaxed);
        atomic_store_explicit(&b->broadcasts, v + 1, memory_order_release);
    }
    weft_lock_release(&b->lock);

    /* Lost wakeup avoided: the word was bumped before this wake (see wf_cond_sleep). */
    if (broadcast)
        wf_wake(&b->broadcasts, INT_MAX);
    else
        for (int i = 0; i < n_deferred; i++)
            wf_wake(deferred[i], 1); /* the record may be gone: only its address is used */
}

int weft__cond_notify_slow(weft_cond *c, int n)
{
    wf_cond_notify(c, (uint32_t)n);
    return 0;
}

int weft__cond_notify_all_slow(weft_cond *c)
{
    wf_cond_notify(c, UINT32_MAX);
    return 0;
}
