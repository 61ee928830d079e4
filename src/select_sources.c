/* The kinds of source of weft_wait_any: try_complete, prepare and abandon for each
 * (the moves are described in src/select_internal.h).
 *
 * Each kind speaks its family's sleeping protocol exactly as the family's own
 * waiters do, so wakers need not know a weft_wait_any is among their sleepers. They
 * use the family's public inline API where it is enough (try_acquire, is_set) and
 * otherwise the family's word layout from its public header (lock, sem, event). The
 * queue's and the future's kinds live with their families (src/queue.c,
 * src/future.c), beside the attempts and the state word they use. */
#include "select_internal.h"

/* ---- event ---------------------------------------------------------------------
 * Word layout in weft/event.h: SET, WAITERS, and a generation above them. A sleeper
 * sets WAITERS and sleeps on the unset word; set bumps the generation, clears
 * WAITERS and wakes all. Ready: the flag, or a set since the call's first look. */

#define WF_EVENT_GEN(v) ((v) & ~(WEFT_EVENT_SET | WEFT_EVENT_WAITERS))

static bool wf_event_ready(const wf_select_slot *slot, uint32_t v)
{
    return (v & WEFT_EVENT_SET) || WF_EVENT_GEN(v) != slot->seen;
}

static void wf_event_start(weft_source *s, wf_select_slot *slot)
{
    /* relaxed: only the generation to compare with; readiness is read with acquire. */
    slot->seen = WF_EVENT_GEN(atomic_load_explicit(&s->event->word, memory_order_relaxed));
}

static bool wf_event_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)flags;
    /* acquire: pairs with set's release, so the setter's writes are visible. */
    if (!wf_event_ready(slot, atomic_load_explicit(&s->event->word, memory_order_acquire)))
        return false;
    s->result = 0;
    return true;
}

static int wf_event_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                            const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)flags;
    (void)room;
    _Atomic uint32_t *w = &s->event->word;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (wf_event_ready(slot, v))
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

/* ---- semaphore -------------------------------------------------------------------
 * Word layout and protocol in weft/sem.h and src/sem.c: sleepers sleep on
 * value == WAITERS; release(n) wakes n. A thread that has slept covers for the
 * sleepers that may remain when it takes a unit, and one that leaves after sleeping
 * makes the move a woken sleeper owes (src/sem.c: "pending" threads). */

static bool wf_sem_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    _Atomic uint32_t *w = &s->sem->value;
    bool slept = flags & WF_TRY_SLEPT;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    while (v & WEFT_SEM_VALUE_MAX) {
        /* Having slept, cover for sleepers that may remain (as src/sem.c). */
        uint32_t want = v - 1;
        if (slept && want == 0)
            want = WEFT_SEM_WAITERS;
        /* acquire: pairs with the release that added this unit. */
        if (atomic_compare_exchange_weak_explicit(w, &v, want, memory_order_acquire,
                                                  memory_order_relaxed)) {
            /* Units remain that may have been released while WAITERS was clear. */
            if (slept && want != WEFT_SEM_WAITERS)
                wf_wake(w, 1);
            s->result = 0;
            return true;
        }
    }
    return false;
}

static int wf_sem_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                          const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)slot;
    (void)flags;
    (void)room;
    _Atomic uint32_t *w = &s->sem->value;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (v & WEFT_SEM_VALUE_MAX)
            return 0;
        /* relaxed: announcing a sleeper orders no data. */
        if (v == WEFT_SEM_WAITERS ||
            atomic_compare_exchange_weak_explicit(w, &v, WEFT_SEM_WAITERS, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    /* Lost wakeup avoided: we sleep only while the word is WAITERS; a release stores
     * a count (clearing WAITERS) before it wakes. */
    words[0] = w;
    expected[0] = WEFT_SEM_WAITERS;
    return 1;
}

static void wf_sem_abandon(weft_source *s, wf_select_slot *slot, bool won, bool slept)
{
    (void)slot;
    if (won || !slept)
        return; /* a winner covered in try; a thread that never slept owes nothing */
    /* We may have been woken by a release and leave without its unit: make the
     * pending sleeper's move. Units there: wake the next sleeper for them. None:
     * make sure WAITERS is up, so the next release wakes the sleepers that remain. */
    _Atomic uint32_t *w = &s->sem->value;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if (v & WEFT_SEM_VALUE_MAX) {
            wf_wake(w, 1);
            return;
        }
        /* relaxed: a flag for wakers, ordering no data. */
        if (v == WEFT_SEM_WAITERS ||
            atomic_compare_exchange_weak_explicit(w, &v, WEFT_SEM_WAITERS, memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

/* ---- lock --------------------------------------------------------------------------
 * Word layout in weft/lock.h: LOCKED, PARKED, FAIR, HANDOFF. Sleepers set PARKED and
 * sleep on the word; a release wakes one; a handoff (HANDOFF) belongs to whichever
 * woken sleeper clears it. A waiter that has slept takes a free lock keeping PARKED
 * (others may sleep), may claim a handoff, and when it leaves without the lock it
 * must not strand the wakeup it may have taken (src/lock.c's timeout path). */

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
        /* Free, and no release to come: pass the wakeup on now (as src/lock.c). */
        wf_wake(&l->word, 1);
        return;
    }
}

/* ---- cancel token ------------------------------------------------------------------
 * The token and its ancestors' words (src/cancel.c); the first fire wakes all. */

static bool wf_cancel_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    (void)flags;
    if (!weft_cancel_fired(s->cancel))
        return false;
    s->result = 0;
    return true;
}

static int wf_cancel_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                             const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)slot;
    (void)flags;
    /* Lost wakeup avoided: see weft_cancel_fire. */
    int n = wf_cancel_watch(s->cancel, words, expected, room);
    return n > 0 ? n : 0; /* -ECANCELED: fired, ready; room is checked up front */
}

static int wf_cancel_words(const weft_source *s)
{
    return wf_cancel_chain_length(s->cancel);
}

/* ---- the table ---------------------------------------------------------------------- */

void wf_nothing_to_undo(weft_source *s, wf_select_slot *slot, bool won, bool slept)
{
    (void)s;
    (void)slot;
    (void)won;
    (void)slept;
}

int wf_one_word(const weft_source *s)
{
    (void)s;
    return 1;
}

static const wf_source_ops wf_event_ops = {wf_event_start, wf_event_try, wf_event_prepare,
                                           wf_nothing_to_undo, wf_one_word};
static const wf_source_ops wf_sem_ops = {NULL, wf_sem_try, wf_sem_prepare, wf_sem_abandon,
                                         wf_one_word};
static const wf_source_ops wf_lock_ops = {NULL, wf_lock_try, wf_lock_prepare, wf_lock_abandon,
                                          wf_one_word};
static const wf_source_ops wf_cancel_ops = {NULL, wf_cancel_try, wf_cancel_prepare,
                                            wf_nothing_to_undo, wf_cancel_words};

const wf_source_ops *wf_source_ops_of(const weft_source *s)
{
    switch (s->kind) {
    case WEFT_SOURCE_QUEUE_GET:
    case WEFT_SOURCE_QUEUE_PUT:
        return s->queue ? &wf_queue_ops : NULL;
    case WEFT_SOURCE_EVENT:
        return s->event ? &wf_event_ops : NULL;
    case WEFT_SOURCE_SEM:
        return s->sem ? &wf_sem_ops : NULL;
    case WEFT_SOURCE_FUTURE:
        return s->future ? &wf_future_ops : NULL;
    case WEFT_SOURCE_LOCK:
        return s->lock ? &wf_lock_ops : NULL;
    case WEFT_SOURCE_CANCEL:
        return s->cancel ? &wf_cancel_ops : NULL;
    default:
        return NULL;
    }
}
