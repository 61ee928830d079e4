/* select_internal.h: what weft_wait_any (src/select.c) asks of each kind of source
 * (src/select_sources.c for the cancel token, and the families that keep their own
 * kind, below). The public contract is include/weft/select.h.
 *
 * A call looks at its sources in three moves, each kind supplying one op per move:
 *
 *   try_complete   complete the source if that needs no blocking (take the item,
 *                  the unit, the lock); never sleeps. WF_TRY_RECHECK: the look that
 *                  follows prepare, whose loads must pair with the wakers' (seq_cst
 *                  where the family's protocol says so: the queues' event counts).
 *                  WF_TRY_SLEPT: the call has slept on this source's word, so it
 *                  follows the family's rules for a woken sleeper (a lock's handoff
 *                  may be claimed, a semaphore taker covers for other sleepers).
 *   prepare        announce a sleeper as the family's own waiters do (set the
 *                  WAITERS-style flag, or list a waiter record on the queue's wait
 *                  list) and give the word(s) to sleep on with the value(s) to sleep
 *                  while they hold. Returns how many words (1, or a token's chain),
 *                  or 0 when it saw the source ready (nothing to undo then).
 *   abandon        undo the announcement once the call is done with this round
 *                  (`won`: this source was the one completed), and, having slept
 *                  (`slept`), pass on a wakeup the family may have spent on us: locks,
 *                  semaphores and queue wait lists wake a counted number of sleepers,
 *                  so a woken sleeper that leaves without using its wakeup must hand
 *                  it to the next (as each family's own timeout path does).
 *
 * Kinds whose wakers wake every sleeper (event, future, cancel token) have nothing
 * to pass on. */
#ifndef WF_SELECT_INTERNAL_H
#define WF_SELECT_INTERNAL_H

#include "waiting.h"

/* One source's scratch for one call, on the caller's stack. */
typedef struct wf_select_slot {
    wf_waiter waiter; /* queue kinds: our record on the queue's wait list */
    uint32_t seen;    /* event: its generation when the call first looked */
    bool prepared;    /* announced this round: abandon is owed */
} wf_select_slot;

enum {
    WF_TRY_RECHECK = 1u, /* the look after prepare (see the top) */
    WF_TRY_SLEPT = 2u,   /* the call has slept on the source (see the top) */
};

typedef struct wf_source_ops {
    /* The call's first look, before anything else (may be NULL): snapshots. */
    void (*start)(weft_source *s, wf_select_slot *slot);
    bool (*try_complete)(weft_source *s, wf_select_slot *slot, unsigned flags);
    int (*prepare)(weft_source *s, wf_select_slot *slot, unsigned flags,
                   const _Atomic uint32_t **words, uint32_t *expected, int room);
    void (*abandon)(weft_source *s, wf_select_slot *slot, bool won, bool slept);
    /* How many words prepare may give (1 unless a token's chain). */
    int (*words)(const weft_source *s);
} wf_source_ops;

/* The kinds kept by their families, the only files that know their words:
 * src/queue.c (get and put), src/future.c, src/event.c, src/sem.c, src/lock.c. */
WF_HIDDEN extern const wf_source_ops wf_queue_ops;
WF_HIDDEN extern const wf_source_ops wf_future_ops;
WF_HIDDEN extern const wf_source_ops wf_event_ops;
WF_HIDDEN extern const wf_source_ops wf_sem_ops;
WF_HIDDEN extern const wf_source_ops wf_lock_ops;

/* Shared moves (src/select_sources.c): an abandon for kinds whose wakers wake every
 * sleeper, and `words` for kinds that sleep on one word. */
WF_HIDDEN void wf_nothing_to_undo(weft_source *s, wf_select_slot *slot, bool won, bool slept);
WF_HIDDEN int wf_one_word(const weft_source *s);

/* The kind's ops, or NULL for a kind that does not exist or a source whose object
 * is NULL. */
WF_HIDDEN const wf_source_ops *wf_source_ops_of(const weft_source *s);

#endif
