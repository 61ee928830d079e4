/* The kinds of source of weft_wait_any: try_complete, prepare and abandon for each
 * (the moves are described in src/select_internal.h), and the table that finds a
 * source's ops. The event, semaphore and lock kinds live with their families
 * (src/event.c, src/sem.c, src/lock.c), the only files that know those words.
 *
 * Each kind speaks its family's sleeping protocol exactly as the family's own
 * waiters do, so wakers need not know a weft_wait_any is among their sleepers. They
 * use the family's public inline API where it is enough (future_done, cancel_fired)
 * and otherwise the queue's one-shot attempts (src/queue_internal.h) and the
 * future's state word (src/future_internal.h). */
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

static const wf_source_ops wf_queue_ops = {NULL, wf_queue_try, wf_queue_prepare,
                                           wf_queue_abandon, wf_one_word};
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
