/* The kinds of source of weft_wait_any that no family keeps (the cancel token), and
 * the table that finds a source's ops (the moves are described in
 * src/select_internal.h). The queue, future, event, semaphore and lock kinds live
 * with their families (src/queue.c, src/future.c, src/event.c, src/sem.c,
 * src/lock.c), the only files that know their words.
 *
 * Each kind speaks its family's sleeping protocol exactly as the family's own
 * waiters do, so wakers need not know a weft_wait_any is among their sleepers. */
#include "select_internal.h"

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
