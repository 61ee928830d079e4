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
 * later releases wake nobody while units pile up.
 *
 * Cancellation (weft/cancel.h): a token that fired before the call skips the spin
 * (a free unit is still taken). One that fires during the sleep ends it as a
 * timeout would, except that such a sleep may also have taken a release's wake: the
 * cancelled thread makes the pending sleeper's move (wf_sem_leave) before it goes.
 * The public entry says ECANCELED. weft_wait_any's semaphore source is at the end. */
#include "select_internal.h"
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

/* Takes one unit if the word (*v, the caller's last load of it) shows one; false
 * once a load shows none (*v is then fresh). Having slept, the taker covers for
 * the sleepers that may remain (see the top). */
static bool wf_sem_take(weft_sem *s, uint32_t *v, bool slept)
{
    while (*v & WEFT_SEM_VALUE_MAX) {
        uint32_t want = *v - 1;
        if (slept && want == 0)
            want = WEFT_SEM_WAITERS;
        /* acquire: pairs with the release that added this unit. */
        if (atomic_compare_exchange_weak_explicit(&s->value, v, want, memory_order_acquire,
                                                  memory_order_relaxed)) {
            /* Units remain that may have been released while WAITERS was clear. */
            if (slept && want != WEFT_SEM_WAITERS)
                wf_wake(&s->value, 1);
            wf_tsan_acquire(&s->value); /* the acquire, told (src/tsan.h) */
            return true;
        }
    }
    return false;
}

/* Puts WAITERS up on a word with no unit; false (nothing done) if it shows units. */
static bool wf_sem_flag_waiters(weft_sem *s)
{
    uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    for (;;) {
        if (v & WEFT_SEM_VALUE_MAX)
            return false;
        /* relaxed: a flag for wakers, ordering no data. */
        if (v == WEFT_SEM_WAITERS ||
            atomic_compare_exchange_weak_explicit(&s->value, &v, WEFT_SEM_WAITERS,
                                                  memory_order_relaxed, memory_order_relaxed))
            return true;
    }
}

/* The move a pending sleeper owes (see the top) when it leaves without a unit: it
 * may have been woken by a release whose unit another thread took. Units there:
 * wake the next sleeper for them. None: make sure WAITERS is up, so the next
 * release wakes the sleepers that remain. */
static void wf_sem_leave(weft_sem *s)
{
    if (!wf_sem_flag_waiters(s))
        wf_wake(&s->value, 1);
}

static int wf_sem_wait(weft_sem *s, weft_deadline d)
{
    uint32_t v;
    /* A token that fired before the call: a free unit is still taken (weft/cancel.h),
     * none is waited for, and no sleeper is announced (WAITERS stays as it is). */
    if (WF_UNLIKELY(wf_cancelled(d))) {
        v = atomic_load_explicit(&s->value, memory_order_relaxed);
        return wf_sem_take(s, &v, false) ? 0 : ETIMEDOUT;
    }

    /* Spin first: a release may come within a short section. Even past WAITERS,
     * which may be stale (left by the last woken taker, see the top): a unit taken
     * here sends a woken sleeper back to sleep, but saves our sleep and wake. */
    for (wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF); !wf_spin_spent(&spin);) {
        v = atomic_load_explicit(&s->value, memory_order_relaxed);
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

    bool slept = false;
    int r = 0;
    v = atomic_load_explicit(&s->value, memory_order_relaxed);
    for (;;) {
        if (wf_sem_take(s, &v, slept))
            return 0;
        if (r == ETIMEDOUT) {
            /* A sleep the token ended says ETIMEDOUT even if a release's wake came
             * with it: make the woken sleeper's move. (A deadline that passed was
             * counted by no wake: nothing owed.) */
            if (wf_cancelled(d))
                wf_sem_leave(s);
            return ETIMEDOUT;
        }
        /* Lost wakeup avoided: we sleep only while the word is still WAITERS (count
         * 0, flag set); a release changes it (count > 0) before it wakes, so either
         * the sleep sees the change and returns at once, or the release's wake
         * finds us. `v` comes back as a fresh load. */
        r = wf_sleep_flagged(&s->value, &v, WEFT_SEM_WAITERS, d);
        slept = true;
    }
}

/* The one exit of every blocking acquire: a timeout caused by the token is
 * ECANCELED. */
int weft__sem_acquire_slow(weft_sem *s, weft_deadline d)
{
    if (!s)
        return EINVAL;
    return wf_cancel_result(wf_sem_wait(s, d), d);
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

/* ---- a source of weft_wait_any ---------------------------------------------------
 * The moves of src/select_internal.h, by the protocol at the top: a source sleeps on
 * value == WAITERS as the slow path does, takes a unit as a sleeper does once it has
 * slept (covering for the others), and one that leaves after sleeping makes the
 * pending sleeper's move. */

static bool wf_sem_source_try(weft_source *src, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    uint32_t v = atomic_load_explicit(&src->sem->value, memory_order_relaxed);
    if (!wf_sem_take(src->sem, &v, flags & WF_TRY_SLEPT))
        return false;
    src->result = 0;
    return true;
}

static int wf_sem_source_prepare(weft_source *src, wf_select_slot *slot, unsigned flags,
                                 const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)slot;
    (void)flags;
    (void)room;
    if (!wf_sem_flag_waiters(src->sem))
        return 0; /* units there: the look that follows takes one */
    /* Lost wakeup avoided: we sleep only while the word is WAITERS; a release stores
     * a count (clearing WAITERS) before it wakes. */
    words[0] = &src->sem->value;
    expected[0] = WEFT_SEM_WAITERS;
    return 1;
}

static void wf_sem_source_abandon(weft_source *src, wf_select_slot *slot, bool won, bool slept)
{
    (void)slot;
    /* A winner covered as it took its unit; a thread that never slept owes nothing. */
    if (!won && slept)
        wf_sem_leave(src->sem);
}

const wf_source_ops wf_sem_ops = {NULL, wf_sem_source_try, wf_sem_source_prepare,
                                  wf_sem_source_abandon, wf_one_word};
