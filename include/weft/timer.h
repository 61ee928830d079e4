/* weft/timer.h: weft_timer, Python's threading.Timer done right.
 *
 * A timer calls fn(arg) once, on the library's timer service thread, after its
 * interval. All timers share that one thread (a binary heap ordered by due time;
 * start and cancel are O(log n)); it is started on first use and exits when no
 * timer is pending. A timer never fires before its interval has passed on
 * CLOCK_MONOTONIC; timers due at the same instant fire in the order they were
 * started. A function that blocks delays every later timer: keep them short, or
 * hand the work to a thread.
 *
 * The weft_timer is a plain struct the caller embeds; all-zero memory
 * (WEFT_TIMER_INIT) is a timer never started, and no destroy call is needed. It
 * may be started again once it fired or was cancelled (even from inside its own
 * function). Free it only when it is not pending and its function is not
 * running: after weft_timer_cancel returned (which waits for a running function
 * when called from another thread), or from inside its own function.
 */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include "common.h"

WEFT_BEGIN_DECLS

/* The timer's state; it changes only under the timer service's lock.
 *
 *   state       meaning
 *   IDLE        never started (all-zero memory)
 *   PENDING     in the service's heap, due at due_ns: cancel stops it
 *   FIRED       taken off the heap to run: its function runs or has run
 *   CANCELLED   taken off the heap by cancel before it ran
 *
 * start: IDLE, FIRED, CANCELLED -> PENDING. */
#define WEFT_TIMER_IDLE 0u
#define WEFT_TIMER_PENDING 1u
#define WEFT_TIMER_FIRED 2u
#define WEFT_TIMER_CANCELLED 3u

typedef struct weft_timer {
    int64_t due_ns;               /* absolute CLOCK_MONOTONIC time it is due */
    uint64_t seq;                 /* start order: breaks ties between equal due times */
    void (*fn)(void *arg);
    void *arg;
    uint32_t heap_index;          /* its slot in the service's heap while PENDING */
    WEFT_ATOMIC(uint32_t) state;  /* the table above */
} weft_timer;

#define WEFT_TIMER_INIT {0, 0, NULL, NULL, 0, WEFT_TIMER_IDLE}

/* Start the timer: fn(arg) runs on the timer service thread once timeout_ns (>= 0)
 * has passed. Never blocks for long (it takes the service's lock, and may start
 * the service thread). Returns 0; EBUSY if the timer is already pending (nothing
 * changes); EINVAL (t or fn NULL, timeout_ns negative); ENOMEM or EAGAIN if the
 * service could not grow its heap or start its thread. On any error nothing
 * changes: the timer keeps its state, and its fn, arg and due_ns are still those
 * of its last start. */
WEFT_API int weft_timer_start(weft_timer *t, int64_t timeout_ns, void (*fn)(void *arg),
                              void *arg);

/* As weft_timer_start, due at the absolute deadline d (which may have passed:
 * the timer is then due at once; WEFT_DEADLINE_NEVER is EINVAL). Restarting a
 * periodic timer at its last due time plus the period keeps it from drifting. */
WEFT_API int weft_timer_start_at(weft_timer *t, weft_deadline d, void (*fn)(void *arg),
                                 void *arg);

/* Cancel the timer. Returns 0 when it was pending and now will not run (or was
 * already cancelled); EBUSY when its function already ran or is running; EINVAL
 * if t is NULL or was never started. Called from any thread but the service
 * thread, it returns only once the timer's function is not running, so the
 * timer may then be freed; it blocks only while that function runs. */
WEFT_API int weft_timer_cancel(weft_timer *t);

/* True while the timer is started and has not yet fired or been cancelled (a
 * snapshot). Never blocks. */
WEFT_INLINE bool weft_timer_pending(const weft_timer *t);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE bool weft_timer_pending(const weft_timer *t)
{
    /* relaxed: a snapshot that orders nothing. */
    return t && atomic_load_explicit(&t->state, memory_order_relaxed) == WEFT_TIMER_PENDING;
}
#endif

WEFT_END_DECLS

#endif
