/* weft/select.h: weft_wait_any, Go's `select` over weft's objects.
 *
 * Block until one of n sources is ready, complete exactly that one, and return its
 * index. The sources may be of different kinds:
 *
 *   kind                     ready when                    completing it
 *   WEFT_SOURCE_QUEUE_GET    the queue has an item          takes it into .item
 *   WEFT_SOURCE_QUEUE_PUT    the queue has room             puts .item (priority 0)
 *   WEFT_SOURCE_EVENT        the event is set               nothing to take
 *   WEFT_SOURCE_SEM          the semaphore has a unit       takes one unit
 *   WEFT_SOURCE_FUTURE       the future is done             nothing (read it with
 *                                                           weft_future_result)
 *   WEFT_SOURCE_LOCK         the lock is free               acquires it
 *   WEFT_SOURCE_CANCEL       the token (or an ancestor)     nothing
 *                            has fired
 *
 * Exactly one source is completed per call: one item taken (or put), one unit, one
 * lock; the others are left as they were. A queue that is shut down is ready too: its
 * source completes with .result ESHUTDOWN (nothing moved), as a receive from a
 * closed channel does in Go; a put that runs out of memory completes with ENOMEM.
 * An event counts as ready also when a set happened while the call waited, even if
 * it was cleared at once (as weft_event_wait returns 0 then).
 *
 * Fair: each call starts its look at the sources one further along (per thread), so
 * no source starves while others are ready too. Allocates nothing (about 12 KiB of
 * stack at n = 128). Linux sleeps in one futex_waitv over the sources' words; the
 * portable backend parks one waiter on several addresses at once.
 *
 * The deadline's own token (weft_deadline_with_cancel) ends the wait with
 * -ECANCELED; a token among the sources is a source like the others (its index is
 * returned). Tokens are looked at only when the call would block: a source that is
 * ready completes even if a token has fired.
 *
 * Limits: n <= WEFT_WAIT_ANY_MAX (128), and the words the call watches together at
 * most WEFT_WAIT_ANY_MAX: one per source, plus, for a cancel source and for the
 * deadline's token, one per token of its chain (itself and its ancestors). A pool
 * worker that waits here on a future of its own pool does not run the pool's tasks
 * meanwhile (weft_future_result does): it may wait for a task that needs its CPU.
 */
#ifndef WEFT_SELECT_H
#define WEFT_SELECT_H

#include "cancel.h"
#include "common.h"
#include "event.h"
#include "future.h"
#include "lock.h"
#include "queue.h"
#include "sem.h"

WEFT_BEGIN_DECLS

#define WEFT_WAIT_ANY_MAX 128

/* Kinds of source (see the table above). */
enum {
    WEFT_SOURCE_QUEUE_GET = 1,
    WEFT_SOURCE_QUEUE_PUT,
    WEFT_SOURCE_EVENT,
    WEFT_SOURCE_SEM,
    WEFT_SOURCE_FUTURE,
    WEFT_SOURCE_LOCK,
    WEFT_SOURCE_CANCEL,
};

/* One source. Fill it with the weft_source_* constructors below (or set kind and
 * the one matching pointer). */
typedef struct weft_source {
    int kind;   /* WEFT_SOURCE_* */
    int result; /* out, for the source completed: 0, or ESHUTDOWN / ENOMEM (queues) */
    union {
        weft_queue *queue; /* QUEUE_GET, QUEUE_PUT */
        weft_event *event;
        weft_sem *sem;
        weft_future *future;
        weft_lock *lock;
        const weft_cancel *cancel;
    };
    void *item; /* QUEUE_PUT: the item to put; QUEUE_GET: out, the item taken */
} weft_source;

/* Wait until one source is ready, at most timeout_ns (WEFT_FOREVER: no limit; 0:
 * just look), and complete it (see the top). n = 0 waits for the timeout alone.
 * Returns the index of the completed source (its .result says how it completed);
 * -ETIMEDOUT once the timeout has passed with none ready; -EINVAL (nothing changes)
 * if sources is NULL with n > 0, n > WEFT_WAIT_ANY_MAX, a kind is unknown, a
 * source's object is NULL, or the words to watch exceed WEFT_WAIT_ANY_MAX. */
WEFT_API int weft_wait_any(weft_source *sources, size_t n, int64_t timeout_ns);

/* As weft_wait_any with an absolute deadline; -ECANCELED once the deadline's token
 * has fired with no source ready. */
WEFT_API int weft_wait_any_until(weft_source *sources, size_t n, weft_deadline d);

/* Constructors; they never block. */
WEFT_INLINE weft_source weft_source_queue_get(weft_queue *q);
WEFT_INLINE weft_source weft_source_queue_put(weft_queue *q, void *item);
WEFT_INLINE weft_source weft_source_event(weft_event *e);
WEFT_INLINE weft_source weft_source_sem(weft_sem *s);
WEFT_INLINE weft_source weft_source_future(weft_future *f);
WEFT_INLINE weft_source weft_source_lock(weft_lock *l);
WEFT_INLINE weft_source weft_source_cancel(const weft_cancel *c);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE weft_source weft_source_queue_get(weft_queue *q)
{
    weft_source s = {.kind = WEFT_SOURCE_QUEUE_GET, .result = 0, .queue = q, .item = NULL};
    return s;
}

WEFT_INLINE weft_source weft_source_queue_put(weft_queue *q, void *item)
{
    weft_source s = {.kind = WEFT_SOURCE_QUEUE_PUT, .result = 0, .queue = q, .item = item};
    return s;
}

WEFT_INLINE weft_source weft_source_event(weft_event *e)
{
    weft_source s = {.kind = WEFT_SOURCE_EVENT, .result = 0, .event = e, .item = NULL};
    return s;
}

WEFT_INLINE weft_source weft_source_sem(weft_sem *sem)
{
    weft_source s = {.kind = WEFT_SOURCE_SEM, .result = 0, .sem = sem, .item = NULL};
    return s;
}

WEFT_INLINE weft_source weft_source_future(weft_future *f)
{
    weft_source s = {.kind = WEFT_SOURCE_FUTURE, .result = 0, .future = f, .item = NULL};
    return s;
}

WEFT_INLINE weft_source weft_source_lock(weft_lock *l)
{
    weft_source s = {.kind = WEFT_SOURCE_LOCK, .result = 0, .lock = l, .item = NULL};
    return s;
}

WEFT_INLINE weft_source weft_source_cancel(const weft_cancel *c)
{
    weft_source s = {.kind = WEFT_SOURCE_CANCEL, .result = 0, .cancel = c, .item = NULL};
    return s;
}
#endif

WEFT_END_DECLS

#endif
