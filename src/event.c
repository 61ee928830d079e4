/* weft_event: set, clear and the sleeping wait. The word's state table is in
 * include/weft/event.h.
 *
 * Every change of the word is a read-modify-write (set and the sleepers' CAS,
 * clear's fetch_and), so every value a waiter loads lies in the release sequence
 * of each set before it: a waiter's acquire load of any later word synchronizes
 * with all those sets, whatever clears came between. set is a release even when
 * the flag is already up, so that its caller's writes are published too. */
#include "waiting.h"

extern inline bool weft_event_is_set(const weft_event *e);
extern inline int weft_event_wait(weft_event *e, int64_t timeout_ns);
extern inline int weft_event_wait_until(weft_event *e, weft_deadline d);

#define WF_EVENT_GEN_MASK (~(WEFT_EVENT_SET | WEFT_EVENT_WAITERS))

int weft_event_set(weft_event *e)
{
    if (!e)
        return EINVAL;
    uint32_t old = atomic_load_explicit(&e->word, memory_order_relaxed), want;
    wf_tsan_release(&e->word); /* the release below, told (src/tsan.h) */
    do {
        /* Already set: rewrite the same word, only for the release below. A new
         * set bumps GEN (wrapping) and drops WAITERS: we wake them all. */
        want = (old & WEFT_EVENT_SET) ? old
                                      : ((old & WF_EVENT_GEN_MASK) + WEFT_EVENT_GEN_ONE) |
                                            WEFT_EVENT_SET;
        /* release: publishes our writes to the waiters this set lets through. */
    } while (!atomic_compare_exchange_weak_explicit(&e->word, &old, want, memory_order_release,
                                                    memory_order_relaxed));
    /* Lost wakeup avoided: the word changed before this wake, so a waiter that
     * has not reached its wait yet finds it changed and does not sleep. */
    if (old & WEFT_EVENT_WAITERS)
        wf_wake(&e->word, INT_MAX);
    return 0;
}

int weft_event_clear(weft_event *e)
{
    if (!e)
        return EINVAL;
    /* relaxed: clearing publishes nothing; an RMW keeps the release sequences of
     * earlier sets intact for waiters that load a later word. Leaves WAITERS and
     * GEN alone (sleepers sleep on them). */
    atomic_fetch_and_explicit(&e->word, ~WEFT_EVENT_SET, memory_order_relaxed);
    return 0;
}

int weft__event_wait_slow(weft_event *e, weft_deadline d)
{
    if (!e)
        return EINVAL;
    /* acquire: if this shows a set, the setter's writes are visible to us. */
    uint32_t old = atomic_load_explicit(&e->word, memory_order_acquire);
    const uint32_t gen = old & WF_EVENT_GEN_MASK;
    bool timed_out = false;
    /* Spin while nobody sleeps yet: a set may be a few hundred nanoseconds away,
     * which a sleep and a wake would turn into microseconds. */
    wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF);
    while (old == gen && wf_spin(&spin)) {
        /* acquire: as above. */
        old = atomic_load_explicit(&e->word, memory_order_acquire);
    }
    for (;;) {
        /* The flag, or a set that happened while we slept and was cleared since. */
        if ((old & WEFT_EVENT_SET) || (old & WF_EVENT_GEN_MASK) != gen) {
            wf_tsan_acquire(&e->word); /* the acquire that saw it, told */
            return 0;
        }
        if (timed_out)
            return ETIMEDOUT;
        /* Lost wakeup avoided: we sleep only while the word still reads `old` with
         * WAITERS up (unset, our generation); set changes it before it wakes, so
         * either the sleep sees the change, or set's wake finds us. `old` comes
         * back as a fresh acquire load (as above). */
        timed_out = wf_sleep_flagged(&e->word, &old, WEFT_EVENT_WAITERS, d) == ETIMEDOUT;
    }
}
