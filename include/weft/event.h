/* weft/event.h: weft_event, Python's threading.Event.
 *
 * A 4-byte flag that threads wait on; all-zero memory (WEFT_EVENT_INIT) is unset
 * and no destroy call is needed. set wakes every waiter (no system call when
 * nobody waits); clear makes later waits block again; is_set and a wait on a set
 * event are one load. As in Python, a waiter that was asleep when set() happened
 * returns 0 even if clear() follows at once: set bumps a generation count, and a
 * waiter returns on seeing either the flag or a new generation.
 *
 * Word layout and state table (GEN = bits 2-31, bumped by each set that finds
 * the event unset; wraps, which only matters to a waiter that sleeps through
 * 2^30 set/clear pairs without running, and each set wakes it):
 *
 *   word               meaning
 *   GEN                unset, nobody waits: set makes no system call
 *   GEN|WAITERS        unset, threads may sleep on this exact word: set wakes all
 *   GEN'|SET           set (GEN' = GEN + 1); waiters return at once
 *
 * SET and WAITERS never appear together: set clears WAITERS as it wakes. */
#ifndef WEFT_EVENT_H
#define WEFT_EVENT_H

#include "common.h"

WEFT_BEGIN_DECLS

#define WEFT_EVENT_SET 1u     /* the flag */
#define WEFT_EVENT_WAITERS 2u /* threads may sleep on the word */
#define WEFT_EVENT_GEN_ONE 4u /* one generation: the lowest GEN bit */

typedef struct weft_event {
    WEFT_ATOMIC(uint32_t) word;
} weft_event;

#define WEFT_EVENT_INIT {0}

/* Slow path behind the inline fast path; not for direct use. */
WEFT_API int weft__event_wait_slow(weft_event *e, weft_deadline d);

/* Set the flag and wake every waiter; no system call when nobody waits (nor when
 * it is already set). Never blocks. Returns 0, or EINVAL if e is NULL. What the
 * caller wrote before set is visible to a thread once its wait returns 0 or its
 * is_set returns true after this set. */
WEFT_API int weft_event_set(weft_event *e);

/* Clear the flag: later waits block until the next set. Never blocks. Returns 0,
 * or EINVAL if e is NULL. */
WEFT_API int weft_event_clear(weft_event *e);

/* True while the flag is set (a snapshot; false for NULL). Never blocks. When
 * true, the setter's earlier writes are visible to the caller. */
WEFT_INLINE bool weft_event_is_set(const weft_event *e);

/* Block until the flag is set, at most timeout_ns (WEFT_FOREVER: no limit; 0:
 * just look). Returns 0 if the flag was set when we looked or a set happened
 * while we waited (even one cleared at once), ETIMEDOUT once the timeout has
 * passed without a set, EINVAL if e is NULL. */
WEFT_INLINE int weft_event_wait(weft_event *e, int64_t timeout_ns);

/* As weft_event_wait with an absolute deadline (see weft_deadline_in), and
 * ECANCELED once d's token (weft_deadline_with_cancel) or an ancestor of it has
 * fired without a set (the event is left as it is). A set event returns 0 even
 * under a fired token. */
WEFT_INLINE int weft_event_wait_until(weft_event *e, weft_deadline d);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE bool weft_event_is_set(const weft_event *e)
{
    /* acquire: pairs with set's release, so the setter's writes are visible. */
    return e && (atomic_load_explicit(&e->word, memory_order_acquire) & WEFT_EVENT_SET) != 0;
}

WEFT_INLINE int weft_event_wait_until(weft_event *e, weft_deadline d)
{
    if (weft_event_is_set(e))
        return 0;
    return weft__event_wait_slow(e, d);
}

WEFT_INLINE int weft_event_wait(weft_event *e, int64_t timeout_ns)
{
    if (weft_event_is_set(e))
        return 0;
    if (timeout_ns == 0 && e)
        return ETIMEDOUT;
    return weft__event_wait_slow(e, weft_deadline_in(timeout_ns));
}
#endif

WEFT_END_DECLS

#endif
