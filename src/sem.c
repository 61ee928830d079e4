/* weft_sem slow paths. The word's state table is in include/weft/sem.h.
 *
 * The WAITERS protocol (Drepper's "mutex 2" carried over to counts):
 *  - A thread sleeps only on value == WAITERS (count 0), after setting WAITERS.
 *  - release(n) adds n and clears WAITERS in one CAS (the count leaves 0, and a
 *    thread can only sleep again once it is back at 0, setting WAITERS itself);
 *    if WAITERS was set it then wakes n.
 *  - A thread that has slept cannot know whether others still sleep, so when it
 *    takes a unit it covers for them: if it took the last unit it stores WAITERS
 *    (the next release wakes); if it left units behind it wakes one more sleeper
 *    (units released while WAITERS was clear woke nobody).
 *
 * Why no sleeper is stranded. Call a thread "pending" while it is a releaser
 * between its CAS and its wake, or a woken sleeper that has not yet made its
 * next move on the word. Invariant: if a thread sleeps while the count is > 0 or
 * WAITERS is clear, some thread is pending. It holds when a thread goes to sleep
 * (the word is WAITERS: count 0, flag set); a release from WAITERS is pending
 * until its wake, which leaves min(n, sleepers) pending; a pending sleeper's move
 * re-establishes WAITERS or wakes the next (pending in its turn) or finds nobody
 * asleep; other moves (takes by threads that never slept, releases from a word
 * without WAITERS) leave pending threads pending. Pending threads always move, so
 * every sleeper is reached while units remain. A sleeper removed by its timeout
 * was counted by no wake, so it takes no wakeup with it; it still takes a unit
 * that is there before it gives up.
 *
 * Cost: each release wakes at most n; a woken thread wakes one more only for
 * units nobody was woken for. (A thread counts as woken once it has been through
 * the sleep, even one whose announcing CAS lost to a release and that never slept:
 * at worst one wake too many, in that narrow race.) After the last sleeper takes the last unit, the next
 * release makes one wake that finds nobody (the price of a flag instead of a
 * count of sleepers).
 *
 * Rejected alternative: keep WAITERS across a release and clear it with a CAS
 * from the value the release stored when its wake(n) found fewer than n. That is
 * ABA-prone: between the wake and the CAS the count can fall to 0, new threads
 * sleep, and another release can restore the very same value while its wake(1)
 * reaches only one of them; the stale CAS then clears WAITERS over the rest and
 * later releases wake nobody while units pile up. */
#include "waiting.h"

extern inline bool weft_sem_try_acquire(weft_sem *s);
extern inline int weft_sem_acquire(weft_sem *s);
extern inline int weft_sem_acquire_for(weft_sem *s, int64_t timeout_ns);
extern inline int weft_sem_acquire_until(weft_sem *s, weft_deadline d);
extern inline int weft_sem_release(weft_sem *s, uint32_t n);
extern inline uint32_t weft_sem_value(const weft_sem *s);

int weft_sem_init(weft_sem *s, uint32_t value)
{
    if (!s || value > WEFT_SEM_VALUE_MAX)
        return EINVAL;
    atomic_init(&s->value, value);
    s->limit = 0;
    return 0;
}

int weft_sem_init_bounded(weft_sem *s, uint32_t value)
{
    if (!s || value > WEFT_SEM_VALUE_MAX)
        return EINVAL;
    atomic_init(&s->value, value);
    s->limit = WEFT_SEM_BOUNDED | value;
    return 0;
}

int weft__sem_acquire_slow(weft_sem *s, weft_deadline d)
{
    if (!s)
        return EINVAL;

    /* Spin first: a release may come within a short section. Even past WAITERS,
     * which may be stale (left by the last woken taker, see the top): a unit taken
     * here sends a woken sleeper back to sleep, but saves our sleep and wake. */
    for (wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF); !wf_spin_spent(&spin);) {
        uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
        if (v & WEFT_SEM_VALUE_MAX) {
            /* acquire: pairs with the release that added this unit. */
            if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                                      memory_order_relaxed)) {
                wf_tsan_acquire(&s->value); /* the acquire, told (src/tsan.h) */
                return 0;
            }
            wf_spin_count(&spin); /* lost the race: counts, so the spin stays bounded */
            continue;
        }
        wf_spin(&spin);
    }

    bool slept = false, timed_out = false;
    uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    for (;;) {
        if (v & WEFT_SEM_VALUE_MAX) {
            /* Having slept, cover for sleepers that may remain (see the top). */
            uint32_t want = v - 1;
            if (slept && want == 0)
                want = WEFT_SEM_WAITERS;
            /* acquire: pairs with the release that added this unit. */
            if (!atomic_compare_exchange_weak_explicit(&s->value, &v, want, memory_order_acquire,
                                                       memory_order_relaxed))
                continue;
            /* Units remain that may have been released while WAITERS was clear. */
            if (slept && want != WEFT_SEM_WAITERS)
                wf_wake(&s->value, 1);
            wf_tsan_acquire(&s->value);
            return 0;
        }
        if (timed_out)
            return ETIMEDOUT;
        /* Lost wakeup avoided: we sleep only while the word is still WAITERS (count
         * 0, flag set); a release changes it (count > 0) before it wakes, so either
         * the sleep sees the change and returns at once, or the release's wake
         * finds us. `v` comes back as a fresh load. */
        int r = wf_sleep_flagged(&s->value, &v, WEFT_SEM_WAITERS, d);
        slept = true;
        timed_out = r == ETIMEDOUT;
    }
}

int weft__sem_release_slow(weft_sem *s, uint32_t n)
{
    if (!s || n == 0)
        return EINVAL;
    uint32_t max = s->limit ? s->limit & WEFT_SEM_VALUE_MAX : WEFT_SEM_VALUE_MAX;
    uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    wf_tsan_release(&s->value); /* the release below, told (an EOVERFLOW: harmlessly) */
    for (;;) {
        uint32_t count = v & WEFT_SEM_VALUE_MAX;
        if (n > max || count > max - n)
            return EOVERFLOW;
        /* release: publishes what we did before to whoever takes these units.
         * Storing the bare count clears WAITERS (it was only set with count 0). */
        if (atomic_compare_exchange_weak_explicit(&s->value, &v, count + n, memory_order_release,
                                                  memory_order_relaxed))
            break;
    }
    /* Lost wakeup avoided: the word left WAITERS before this wake, so a sleeper
     * that has not reached its wait yet finds it changed and does not sleep. */
    if (v & WEFT_SEM_WAITERS)
        wf_wake(&s->value, (int)n);
    return 0;
}
