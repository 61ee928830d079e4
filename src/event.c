/* weft_event: set, clear and the sleeping wait. The word's state table is in
 * include/weft/event.h.
 *
 * Every change of the word is a read-modify-write (set and the sleepers' CAS,
 * clear's fetch_and), so every value a waiter loads lies in the release sequence
 * of each set before it: a waiter's acquire load of any later word synchronizes
 * with all those sets, whatever clears came between. set is a release even when
 * the flag is already up, so that its caller's writes are published too.
 *
 * Cancellation (weft/cancel.h): a wait under a token that fired before it looks
 * once, without spinning; one that fires during the sleep ends it as a timeout
 * would (an event has nothing to consume), and the public entry says ECANCELED.
 * weft_wait_any's event source is at the end. */
#include "select_internal.h"
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

/* Whether a waiter that joined at generation `gen` may return: the flag, or a set
 * that happened since and was cleared since. */
static bool wf_event_ready(uint32_t v, uint32_t gen)
{
    return (v & WEFT_EVENT_SET) || (v & WF_EVENT_GEN_MASK) != gen;
}

static int wf_event_wait(weft_event *e, weft_deadline d)
{
    /* acquire: if this shows a set, the setter's writes are visible to us. */
    uint32_t old = atomic_load_explicit(&e->word, memory_order_acquire);
    const uint32_t gen = old & WF_EVENT_GEN_MASK;
    /* A token that fired before the call: one look, no spin and no sleep. */
    bool timed_out = wf_cancelled(d);
    /* Spin while nobody sleeps yet: a set may be a few hundred nanoseconds away,
     * which a sleep and a wake would turn into microseconds. */
    wf_spinner spin = wf_spinner_start(WF_SPIN_BRIEF);
    while (!timed_out && old == gen && wf_spin(&spin)) {
        /* acquire: as above. */
        old = atomic_load_explicit(&e->word, memory_order_acquire);
    }
    for (;;) {
        if (wf_event_ready(old, gen)) {
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

/* The one exit of every blocking wait: a timeout caused by the token is ECANCELED. */
int weft__event_wait_slow(weft_event *e, weft_deadline d)
{
    if (!e)
        return EINVAL;
    return wf_cancel_result(wf_event_wait(e, d), d);
}

/* ---- a source of weft_wait_any ---------------------------------------------------
 * The moves of src/select_internal.h, by the protocol of the wait above: a source
 * notes the generation when the call first looks, is ready on the flag or a later
 * generation, and sleeps on the unset word with WAITERS up; set wakes all, so there
 * is nothing to pass on. */

static void wf_event_source_start(weft_source *src, wf_select_slot *slot)
{
    /* relaxed: only the generation to compare with; readiness is read with acquire. */
    slot->seen = atomic_load_explicit(&src->event->word, memory_order_relaxed) & WF_EVENT_GEN_MASK;
}

static bool wf_event_source_try(weft_source *src, wf_select_slot *slot, unsigned flags)
{
    (void)flags;
    /* acquire: pairs with set's release, so the setter's writes are visible. */
    if (!wf_event_ready(atomic_load_explicit(&src->event->word, memory_order_acquire), slot->seen))
        return false;
    src->result = 0;
    return true;
}

static int wf_event_source_prepare(weft_source *src, wf_select_slot *slot, unsigned flags,
                                   const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)flags;
    (void)room;
    _Atomic uint32_t *w = &src->event->word;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (wf_event_ready(v, slot->seen))
            return 0;
        /* relaxed: announcing a sleeper orders no data (try re-reads with acquire). */
        if ((v & WEFT_EVENT_WAITERS) ||
            atomic_compare_exchange_weak_explicit(w, &v, v | WEFT_EVENT_WAITERS,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    /* Lost wakeup avoided: we sleep only while the word reads unset with WAITERS up;
     * set changes it before it wakes. */
    words[0] = w;
    expected[0] = v | WEFT_EVENT_WAITERS;
    return 1;
}

const wf_source_ops wf_event_ops = {wf_event_source_start, wf_event_source_try,
                                    wf_event_source_prepare, wf_nothing_to_undo, wf_one_word};
