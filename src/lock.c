/* weft_lock slow paths. The word's state table is in include/weft/lock.h.
 *
 * Acquire: spin a bounded time while the owner is likely running (no sleeper yet;
 * the waiting core's WF_SPIN_LOCK policy), then sleep on the word with PARKED set.
 * The spin backs off exponentially between loads of the word: each load of a
 * spinner pulls the line away from the owner, whose next acquire then misses, so
 * few loads let the owner run several critical sections in a row as it would with
 * its rivals asleep, without their sleep and wake. A thread that returns from a
 * sleep takes a free lock as LOCKED|PARKED, because it cannot know whether other
 * sleepers remain (Drepper, "Futexes Are Tricky", mutex 2). After sleeping about
 * WF_FAIR_AFTER_NS a sleeper sets FAIR; the next release then keeps the lock
 * LOCKED, sets HANDOFF and wakes one sleeper, who owns it on clearing HANDOFF.
 * Barging threads and spinners never clear HANDOFF, so the handoff reaches a
 * sleeper.
 *
 * The word is this file's alone (and the inline fast paths'): a condition's
 * notify_all, which moves its sleepers onto the word, sets PARKED through
 * wf_lock_mark_parked. */
#include "waiting.h"

#include "profile_internal.h"

extern inline bool weft_lock_try_acquire(weft_lock *l);
extern inline int weft_lock_acquire(weft_lock *l);
extern inline int weft_lock_acquire_for(weft_lock *l, int64_t timeout_ns);
extern inline int weft_lock_acquire_until(weft_lock *l, weft_deadline d);
extern inline int weft_lock_release(weft_lock *l);
extern inline bool weft_lock_locked(const weft_lock *l);

/* Under TSan (src/tsan.h) a slow acquire is told after it succeeded and a slow
 * release before it publishes, on the word the inline fast paths use: the
 * handoffs of a contended lock are then seen by a TSan program however its own
 * fast paths are built (announced as mutexes, or plain atomics). */
static int wf_lock_acquired(weft_lock *l, int r)
{
    if (r == 0)
        wf_tsan_acquire(&l->word);
    return r;
}

enum {
    WF_FAIR_AFTER_NS = 1000 * 1000, /* a sleeper this old asks for a handoff */
};

/* The sleeping half of acquire. `woken` says the caller has just returned from a
 * wait on the lock word (so it may claim a handoff): true for a condition waiter
 * that notify_all requeued onto the lock. */
static int wf_lock_sleep(weft_lock *l, weft_deadline d, bool woken)
{
    int64_t first_sleep = woken ? weft_now_ns() : 0;
    bool starving = false;
    for (;;) {
        uint32_t old = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (woken && (old & WEFT_LOCK_HANDOFF)) {
            /* acquire: pairs with the release CAS that set HANDOFF. */
            if (atomic_compare_exchange_weak_explicit(&l->word, &old, old & ~WEFT_LOCK_HANDOFF,
                                                      memory_order_acquire, memory_order_relaxed))
                return 0;
            continue;
        }
        woken = false;
        if (!(old & WEFT_LOCK_LOCKED)) {
            /* Free: take it, keeping PARKED since other sleepers may remain. */
            uint32_t want = old | WEFT_LOCK_LOCKED | (first_sleep ? WEFT_LOCK_PARKED : 0);
            if (atomic_compare_exchange_weak_explicit(&l->word, &old, want, memory_order_acquire,
                                                      memory_order_relaxed))
                return 0;
            continue;
        }
        uint32_t want = old | WEFT_LOCK_PARKED | (starving ? WEFT_LOCK_FAIR : 0);
        /* relaxed: announcing a sleeper orders no data; the wait below re-reads. */
        if (want != old && !atomic_compare_exchange_weak_explicit(&l->word, &old, want,
                                                                  memory_order_relaxed,
                                                                  memory_order_relaxed))
            continue;
        /* Lost wakeup avoided: we sleep only while the word still reads `want`
         * (PARKED set); a release changes the word before it wakes, so either the
         * kernel sees the change and returns at once, or the wake finds us. */
        if (!first_sleep)
            first_sleep = weft_now_ns();
        int r = wf_sleep(&l->word, want, d);
        int64_t now = weft_now_ns();
        starving = now - first_sleep >= WF_FAIR_AFTER_NS;
        woken = true;
        if (r == ETIMEDOUT || (d.ns != INT64_MAX && now >= d.ns)) {
            /* A handoff may have raced our timeout: take it rather than strand it. */
            old = atomic_load_explicit(&l->word, memory_order_relaxed);
            if ((old & WEFT_LOCK_HANDOFF) &&
                atomic_compare_exchange_strong_explicit(&l->word, &old, old & ~WEFT_LOCK_HANDOFF,
                                                        memory_order_acquire, memory_order_relaxed))
                return 0;
            /* Having slept, take a free lock with PARKED kept for the others. */
            if (!(old & WEFT_LOCK_LOCKED) &&
                atomic_compare_exchange_strong_explicit(&l->word, &old,
                                                        old | WEFT_LOCK_LOCKED | WEFT_LOCK_PARKED,
                                                        memory_order_acquire, memory_order_relaxed))
                return 0;
            /* Lost wakeup avoided: a wait that returned 0 may have consumed the
             * release's wake(1), and the word may have lost PARKED to a barging
             * fast-path acquire since; pass the wake on so the remaining sleepers
             * re-announce themselves instead of sleeping through the next release. */
            if (r == 0)
                wf_wake(&l->word, 1);
            return ETIMEDOUT;
        }
    }
}

/* The contended acquire, behind the public entry below. */
static int wf_lock_acquire_contended(weft_lock *l, weft_deadline d)
{
    /* Spin while the lock is held by a running owner and nobody sleeps yet. */
    for (wf_spinner spin = wf_spinner_start(WF_SPIN_LOCK); !wf_spin_spent(&spin);) {
        uint32_t old = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (!(old & WEFT_LOCK_LOCKED)) {
            /* acquire: pairs with the release that freed the lock. */
            if (atomic_compare_exchange_weak_explicit(&l->word, &old, old | WEFT_LOCK_LOCKED,
                                                      memory_order_acquire, memory_order_relaxed))
                return wf_lock_acquired(l, 0);
            wf_spin_count(&spin); /* lost the race: counts, so the spin stays bounded */
            continue;
        }
        if (old & WEFT_LOCK_PARKED)
            break; /* others already sleep: spinning would only steal from them */
        wf_spin(&spin);
    }

    return wf_lock_acquired(l, wf_lock_sleep(l, d, false));
}

/* While profiling, the caller's return address is the site of the waits. */
int weft__lock_acquire_slow(weft_lock *l, weft_deadline d)
{
    if (WF_LIKELY(!wf_profile_on()))
        return wf_lock_acquire_contended(l, d);
    void *outer = wf_profile_enter(__builtin_return_address(0));
    int rc = wf_lock_acquire_contended(l, d);
    wf_profile_leave(outer);
    return rc;
}

int wf_lock_acquire_requeued(weft_lock *l, weft_deadline d)
{
    return wf_lock_acquired(l, wf_lock_sleep(l, d, true));
}

/* For a condition's notify_all (src/internal.h): the one place outside the
 * acquire and release paths that changes the word. */
bool wf_lock_mark_parked(weft_lock *l, bool wake_if_free)
{
    /* relaxed: PARKED only asks the owner's release to wake; it publishes no data. */
    uint32_t w = atomic_load_explicit(&l->word, memory_order_relaxed);
    for (;;) {
        if (!(w & WEFT_LOCK_LOCKED)) {
            /* Lost wakeup avoided (for the caller, who moved sleepers onto the word
             * since its last look): a release in between stored the word and then
             * woke, which the wait layer orders against the moves, so either its
             * wake found a moved sleeper or this load sees its store, and we wake
             * one ourselves; it takes the lock keeping PARKED for the others. */
            if (wake_if_free)
                wf_wake(&l->word, 1);
            return false;
        }
        if (w & WEFT_LOCK_PARKED)
            return true;
        if (atomic_compare_exchange_weak_explicit(&l->word, &w, w | WEFT_LOCK_PARKED,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

int weft__lock_release_slow(weft_lock *l)
{
    /* While profiling: the holder the sleeper this release wakes blames. */
    if (WF_UNLIKELY(wf_profile_on()))
        wf_profile_release(&l->word, __builtin_return_address(0));
    /* Before any of the release CASes below (an EPERM tells one more, harmlessly). */
    wf_tsan_release(&l->word);
    uint32_t old = atomic_load_explicit(&l->word, memory_order_relaxed);
    for (;;) {
        if (!(old & WEFT_LOCK_LOCKED))
            return EPERM;
        if ((old & WEFT_LOCK_FAIR) && !(old & WEFT_LOCK_HANDOFF)) {
            /* release: the next owner (a woken sleeper) acquires on clearing HANDOFF. */
            if (!atomic_compare_exchange_weak_explicit(&l->word, &old,
                                                       (old & ~WEFT_LOCK_FAIR) | WEFT_LOCK_HANDOFF,
                                                       memory_order_release, memory_order_relaxed))
                continue;
            if (wf_wake(&l->word, 1) > 0)
                return 0;
            /* Nobody was asleep to take it (the starving sleeper timed out): unless a
             * returning sleeper already claimed it, unlock for real. */
            old = atomic_load_explicit(&l->word, memory_order_relaxed);
            while (old & WEFT_LOCK_HANDOFF) {
                if (atomic_compare_exchange_weak_explicit(&l->word, &old, 0, memory_order_release,
                                                          memory_order_relaxed)) {
                    if (old & WEFT_LOCK_PARKED)
                        wf_wake(&l->word, 1);
                    return 0;
                }
            }
            return 0;
        }
        /* A plain unlock (also of a lock whose handoff is still unclaimed). */
        if (atomic_compare_exchange_weak_explicit(&l->word, &old, 0, memory_order_release,
                                                  memory_order_relaxed)) {
            /* Lost wakeup avoided: the word is 0 before we wake, so a sleeper about
             * to wait on LOCKED|PARKED finds it changed and does not sleep. */
            if (old & WEFT_LOCK_PARKED)
                wf_wake(&l->word, 1);
            return 0;
        }
    }
}
