/* The kinds of source of weft_wait_any: try_complete, prepare and abandon for each
 * (the moves are described in src/select_internal.h).
 *
 * Each kind speaks its family's sleeping protocol exactly as the family's own
 * waiters do, so wakers need not know a weft_wait_any is among their sleepers. They
 * use the family's public inline API where it is enough (try_acquire, is_set,
 * future_done) and otherwise the family's word layout from its public header (lock,
 * sem, event), the queue's one-shot attempts (src/queue_internal.h) and the future's
 * state word (src/pool_internal.h). */
#include "future_internal.h"
#include "queue_internal.h"
#include "select_internal.h"

/* ---- queue get / put -------------------------------------------------------------
 * Sleepers list a waiter on the queue's wait list (not_empty for a get, not_full for
 * a put) and sleep on its state word. A notifier unlists the waiter it wakes: the
 * wakeup is a token, passed on by a waiter that leaves while more could move, as
 * wf_queue_block does. */

static const wf_queue_impl *wf_queue_impl_of(const weft_queue *q)
{
    switch (q->impl) {
    case WF_QUEUE_RING:
        return &wf_queue_ring_impl;
    case WF_QUEUE_LINKED:
        return &wf_queue_linked_impl;
    default:
        return &wf_queue_locked_impl;
    }
}

static bool wf_is_get(const weft_source *s)
{
    return s->kind == WEFT_SOURCE_QUEUE_GET;
}

static wf_waitlist *wf_queue_list(const weft_source *s)
{
    return wf_is_get(s) ? &s->queue->not_empty : &s->queue->not_full;
}

static bool wf_queue_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    weft_queue *q = s->queue;
    const wf_queue_impl *impl = wf_queue_impl_of(q);
    wf_queue_op op = {.n = 1};
    if (wf_is_get(s))
        op.out = &s->item;
    else
        op.in = &s->item;
    wf_spinner peer = wf_spinner_start(WF_SPIN_PEER);
    for (;;) {
        ssize_t r = (wf_is_get(s) ? impl->get : impl->put)(q, &op, flags & WF_TRY_RECHECK);
        if (r == -EINPROGRESS) { /* a peer half way through its put or get: it runs */
            wf_spin(&peer);
            continue;
        }
        if (r == -EAGAIN)
            return false;
        s->result = r > 0 ? 0 : (int)-r;
        return true;
    }
}

static int wf_queue_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                            const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)flags;
    (void)room;
    /* Lost wakeup avoided: listing (seq_cst) comes before the re-check that follows
     * every prepare (WF_TRY_RECHECK: seq_cst loads), and a notifier's change comes
     * before its look at the list (src/waiting.h); a notifier that finds us stores
     * WOKEN in our record before it wakes its word, and we sleep only while it
     * reads LISTED. */
    wf_waitlist_prepare(wf_queue_list(s), &slot->waiter);
    words[0] = &slot->waiter.state;
    expected[0] = WF_WAITER_LISTED;
    return 1;
}

static void wf_queue_abandon(weft_source *s, wf_select_slot *slot, bool won, bool slept)
{
    (void)won;
    (void)slept;
    wf_waitlist *wl = wf_queue_list(s);
    const wf_queue_impl *impl = wf_queue_impl_of(s->queue);
    bool token = wf_waitlist_cancel(wl, &slot->waiter);
    /* A wakeup spent on us that we did not use (or, having won, a change beyond the
     * one we used): while more could move, pass one on, as wf_queue_block does. */
    if (token && (wf_is_get(s) ? impl->can_get : impl->can_put)(s->queue))
        wf_waitlist_notify(wl, 1);
}

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

/* ---- future ------------------------------------------------------------------------
 * State word in src/pool_internal.h: a sleeper sets SLEEPERS and sleeps on the
 * word; the move to a final phase wakes all. */

static bool wf_future_try(weft_source *s, wf_select_slot *slot, unsigned flags)
{
    (void)slot;
    (void)flags;
    if (!weft_future_done(s->future))
        return false;
    s->result = 0;
    return true;
}

static int wf_future_prepare(weft_source *s, wf_select_slot *slot, unsigned flags,
                             const _Atomic uint32_t **words, uint32_t *expected, int room)
{
    (void)slot;
    (void)flags;
    (void)room;
    _Atomic uint32_t *w = &s->future->state;
    uint32_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (;;) {
        if ((v & WF_FUTURE_PHASE) >= WF_FUTURE_FINISHED)
            return 0;
        /* relaxed: announcing a sleeper orders no data (try re-reads with acquire). */
        if ((v & WF_FUTURE_SLEEPERS) ||
            atomic_compare_exchange_weak_explicit(w, &v, v | WF_FUTURE_SLEEPERS,
                                                  memory_order_relaxed, memory_order_relaxed))
            break;
    }
    /* Lost wakeup avoided: we sleep only while the word reads not done with SLEEPERS
     * up; the finisher changes the phase before it wakes. */
    words[0] = w;
    expected[0] = v | WF_FUTURE_SLEEPERS;
    return 1;
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

static void wf_nothing_to_undo(weft_source *s, wf_select_slot *slot, bool won, bool slept)
{
    (void)s;
    (void)slot;
    (void)won;
    (void)slept;
}

static int wf_one_word(const weft_source *s)
{
    (void)s;
    return 1;
}

static const wf_source_ops wf_queue_ops = {NULL, wf_queue_try, wf_queue_prepare,
                                           wf_queue_abandon, wf_one_word};
static const wf_source_ops wf_event_ops = {wf_event_start, wf_event_try, wf_event_prepare,
                                           wf_nothing_to_undo, wf_one_word};
static const wf_source_ops wf_sem_ops = {NULL, wf_sem_try, wf_sem_prepare, wf_sem_abandon,
                                         wf_one_word};
static const wf_source_ops wf_lock_ops = {NULL, wf_lock_try, wf_lock_prepare, wf_lock_abandon,
                                          wf_one_word};
static const wf_source_ops wf_future_ops = {NULL, wf_future_try, wf_future_prepare,
                                            wf_nothing_to_undo, wf_one_word};
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
