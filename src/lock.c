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
 * Cancellation (weft/cancel.h): a token that fired before the call skips the spin
 * (a free lock is still taken); one that fires during the sleep ends it as a
 * timeout would, and the public entry says ECANCELED.
 *
 * The word is this file's alone (and the inline fast paths'); weft_wait_any's lock
 * source is at the end. */
#include "waiting.h"

#include "profile_internal.h"
#include "select_internal.h"

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

/* The sleeping half of acquire. */
static int wf_lock_sleep(weft_lock *l, weft_deadline d)
{
    int64_t first_sleep = 0;
    bool starving = false, woken = false; /* woken: back from a sleep on the word */
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
             * re-announce themselves instead of sleeping through the next release.
             * A sleep ended by the token says ETIMEDOUT even if a wake came with
             * it, so a cancelled sleeper passes one on too. */
            if (r == 0 || wf_cancelled(d))
                wf_wake(&l->word, 1);
            return ETIMEDOUT;
        }
    }
}

/* Takes the lock if it is free now, with no spin and no sleep. */
static bool wf_lock_take_free(weft_lock *l)
{
    uint32_t old = atomic_load_explicit(&l->word, memory_order_relaxed);
    while (!(old & WEFT_LOCK_LOCKED)) {
        /* acquire: pairs with the release that freed the lock. */
        if (atomic_compare_exchange_weak_explicit(&l->word, &old, old | WEFT_LOCK_LOCKED,
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
    return false;
}

/* The contended acquire, behind the public entry below. */
static int wf_lock_acquire_contended(weft_lock *l, weft_deadline d)
{
    /* A token that fired before the call: a free lock is still taken (weft/cancel.h),
     * a held one is not waited for, and nobody is told of a sleeper that will not
     * sleep (no PARKED). */
    if (WF_UNLIKELY(wf_cancelled(d)))
        return wf_lock_acquired(l, wf_lock_take_free(l) ? 0 : ETIMEDOUT);
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

    return wf_lock_acquired(l, wf_lock_sleep(l, d));
}

/* While profiling, the caller's return address is the site of the waits. The one
 * exit of every blocking acquire: a timeout caused by the token is ECANCELED. */
int weft__lock_acquire_slow(weft_lock *l, weft_deadline d)
{
    if (WF_LIKELY(!wf_profile_on()))
        return wf_cancel_result(wf_lock_acquire_contended(l, d), d);
    void *outer = wf_profile_enter(__builtin_return_address(0));
    int rc = wf_lock_acquire_contended(l, d);
    wf_profile_leave(outer);
    return wf_cancel_result(rc, d);
}

/* For a condition waiter woken with the others of a notify_all (src/internal.h):
 * its holder may be a thread that the same wake preempted, so a spin could hold
 * the very CPU the holder needs; yielding between tries gives it that CPU. */
int wf_lock_acquire_woken(weft_lock *l)
{
    for (wf_spinner spin = wf_spinner_start(WF_SPIN_YIELD_ONLY);;) {
        if (wf_lock_take_free(l))
            return wf_lock_acquired(l, 0);
        if (!wf_spin(&spin))
            return wf_lock_acquired(l, wf_lock_sleep(l, WEFT_DEADLINE_NEVER));
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

/* ---- a source of weft_wait_any ---------------------------------------------------
 * The moves of src/select_internal.h, by the protocol above: sleepers set PARKED and
 * sleep on the word; a release wakes one; a handoff (HANDOFF) belongs to whichever
 * woken sleeper clears it. A waiter that has slept takes a free lock keeping PARKED
 * (others may sleep), may claim a handoff, and when it leaves without the lock it
 * must not strand the wakeup it may have taken (wf_lock_sleep's timeout path). */

static bool wf_lock_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    _Atomic uint32_t *w = &s->lock->word;
    bool slept = flags & WF_TRY_SLEPT;
    uint32_t old = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        uint32_t want;
        if (slept && (old & WEFT_LOCK_HANDOFF))
            want = old & ~WEFT_LOCK_HANDOFF; /* a handoff: ours as a woken sleeper */
        else if (!(old & WEFT_LOCK_LOCKED))
            want = old | WEFT_LOCK_LOCKED | (slept ? WEFT_LOCK_PARKED : 0);
        else
            return false;
        /* acquire: pairs with the release that freed (or handed off) the lock. */
        if (atomic_compare_exchange_weak_explicit(w, &old, want, memory_order_acquire,
                                                  memory_order_relaxed)) {
            s->result = 0;
            return true;
        }
    }
}

static int wf_lock_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                           const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)slot;
    (void)room;
    _Atomic uint32_t *w = &s->lock->word;
    uint32_t old = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (!(old & WEFT_LOCK_LOCKED) || ((flags & WF_TRY_SLEPT) && (old & WEFT_LOCK_HANDOFF)))
            return 0;
        /* relaxed: announcing a sleeper orders no data; the sleep re-reads. */
        if ((old & WEFT_LOCK_PARKED) ||
            atomic_compare_exchange_weak_explicit(w, &old, old | WEFT_LOCK_PARKED,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    /* Lost wakeup avoided: we sleep only while the word reads held with PARKED; a
     * release changes the word before it wakes one. */
    words[0] = w;
    expected[0] = old | WEFT_LOCK_PARKED;
    return 1;
}

static void wf_lock_abandon(weft_source *s, wf_select_slot *slot, bool won, bool slept)
{
    (void)slot;
    if (won || !slept)
        return;
    weft_lock *l = s->lock;
    uint32_t old = atomic_load_explicit(&l->word, memory_order_relaxed);
    for (;;) {
        if (old & WEFT_LOCK_HANDOFF) {
            /* A handoff (perhaps to us): claim it and release it at once, so the
             * lock goes on to the next sleeper instead of staying handed to nobody.
             * acquire: as in try; the release below publishes nothing of ours. */
            if (atomic_compare_exchange_weak_explicit(&l->word, &old, old & ~WEFT_LOCK_HANDOFF,
                                                      memory_order_acquire,
                                                      memory_order_relaxed)) {
                weft_lock_release(l);
                return;
            }
            continue;
        }
        if (old & WEFT_LOCK_LOCKED) {
            /* Lost wakeup avoided: a release's wake(1) may have been spent on us
             * and a barging acquire may have dropped PARKED since; PARKED back on
             * makes the holder's release wake one of those who remain. */
            if ((old & WEFT_LOCK_PARKED) ||
                atomic_compare_exchange_weak_explicit(&l->word, &old, old | WEFT_LOCK_PARKED,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed))
                return;
            continue;
        }
        /* Free, and no release to come: pass the wakeup on now (as wf_lock_sleep). */
        wf_wake(&l->word, 1);
        return;
    }
}

const wf_source_ops wf_lock_ops = {NULL, wf_lock_try, wf_lock_prepare, wf_lock_abandon,
                                   wf_one_word};
