/* weft/cond.h: weft_cond, Python's threading.Condition.
 *
 * A 4-byte condition variable; all-zero memory (WEFT_COND_INIT) is a condition
 * nobody waits on, and no destroy call is needed. It is used with a weft_lock
 * (weft_cond_wait*) or a weft_rlock (the _r variants, which release the rlock
 * fully for the wait and restore its recursion count after). All waiters of one
 * condition use the same lock, as with Python's Condition(lock).
 *
 * Semantics are Python's: waiters queue in arrival order; notify(n) wakes the n
 * oldest, exactly those, so a notify is never taken by a thread that started
 * waiting after it (no stolen wakeup) and a notify(1) wakes exactly one waiter.
 * A wait returns only when notified or timed out: spurious wakeups are absorbed
 * inside the library. notify_all wakes all its sleepers with one system call, and
 * they do not spin on the lock: one that finds it held yields, then sleeps on it.
 *
 * Notify without holding the lock is allowed (as with pthreads); to be sure a
 * waiter is woken, change the state it waits for under the lock, then notify,
 * with or without the lock still held.
 */
#ifndef WEFT_COND_H
#define WEFT_COND_H

#include "common.h"
#include "lock.h"

WEFT_BEGIN_DECLS

struct weft_rlock;

/* The condition word: how many threads wait on it (queued and not yet notified
 * or timed out). It changes only under the condition's queue lock (src/cond.c);
 * notify reads it without a lock to return at once when nobody waits. The queue
 * itself lives in the library, keyed by the condition's address. */
typedef struct weft_cond {
    WEFT_ATOMIC(uint32_t) waiters;
} weft_cond;

#define WEFT_COND_INIT {0}

/* Slow paths behind the inline fast paths; not for direct use. */
WEFT_API int weft__cond_notify_slow(weft_cond *c, int n);
WEFT_API int weft__cond_notify_all_slow(weft_cond *c);

/* Wait for a notify: atomically release `l` (which the caller must hold) and
 * sleep until notified or until timeout_ns has passed (WEFT_FOREVER: no limit;
 * 0: release and re-take at once), then re-take `l` before returning, whatever
 * the result (blocking for it without a deadline). Returns 0 when notified;
 * ETIMEDOUT once the timeout has passed without a notify; EPERM if `l` is not
 * locked; EINVAL if c or l is NULL (nothing changes on an error).
 *
 * A weft_lock has no owner (any thread may release it), so a wait cannot tell
 * whether the caller holds `l` or another thread does: waiting with a lock that
 * another thread holds is the caller's bug, and releases that thread's lock as
 * its weft_lock_release would. The rlock variants below detect it (EPERM). */
WEFT_API int weft_cond_wait(weft_cond *c, weft_lock *l, int64_t timeout_ns);

/* As weft_cond_wait with an absolute deadline (see weft_deadline_in), and
 * ECANCELED once d's token (weft_deadline_with_cancel) or an ancestor of it has
 * fired without a notify for this waiter (the lock re-taken before returning, as
 * after a timeout; a notify it did not take goes to another waiter). Under a token
 * that fired before the call it returns ECANCELED at once, never releasing `l`. */
WEFT_API int weft_cond_wait_until(weft_cond *c, weft_lock *l, weft_deadline d);

/* Wait until pred(arg) is true: Python's wait_for. Evaluates pred with `l` held,
 * first at once and then after every notify, until it returns true or the
 * timeout has passed. Returns 0 when pred returned true (its last value),
 * ETIMEDOUT when it was still false at the deadline; EPERM, EINVAL as
 * weft_cond_wait (and EINVAL for a NULL pred). Returns with `l` held. */
WEFT_API int weft_cond_wait_for(weft_cond *c, weft_lock *l, bool (*pred)(void *arg), void *arg,
                                int64_t timeout_ns);

/* As weft_cond_wait_for with an absolute deadline; ECANCELED (instead of
 * ETIMEDOUT) once d's token or an ancestor of it has fired with pred still false.
 * A pred that is true at once returns 0 even under a fired token. */
WEFT_API int weft_cond_wait_for_until(weft_cond *c, weft_lock *l, bool (*pred)(void *arg),
                                      void *arg, weft_deadline d);

/* The rlock variants: the caller must hold `r`; EPERM, changing nothing, if it is
 * free or held by another thread. The wait releases it however many times it
 * was acquired and restores that count before returning. Otherwise as their
 * weft_lock twins (the _until ones return ECANCELED as theirs do, with the count
 * restored). */
WEFT_API int weft_cond_wait_r(weft_cond *c, struct weft_rlock *r, int64_t timeout_ns);
WEFT_API int weft_cond_wait_until_r(weft_cond *c, struct weft_rlock *r, weft_deadline d);
WEFT_API int weft_cond_wait_for_r(weft_cond *c, struct weft_rlock *r, bool (*pred)(void *arg),
                                  void *arg, int64_t timeout_ns);
WEFT_API int weft_cond_wait_for_until_r(weft_cond *c, struct weft_rlock *r,
                                        bool (*pred)(void *arg), void *arg, weft_deadline d);

/* True if some thread waits on c: one that has queued itself (which it does
 * before it releases its lock) and has not been notified or timed out yet. A
 * snapshot (false for NULL); never blocks. While the caller holds the lock the
 * waiters use, no thread can start (or, in a wait_for, resume) waiting, so a
 * false answer stays false until the caller releases the lock; and the waiters
 * that left (notified or timed out, some perhaps still re-taking the lock) are
 * done with c. That is what a program needs that refuses to free a condition
 * with waiters (as pthread_cond_destroy's EBUSY). */
WEFT_INLINE bool weft_cond_waiting(const weft_cond *c);

/* Wake the n longest-waiting threads (fewer if fewer wait; n = 0 wakes none).
 * Never blocks (it may take the condition's internal queue lock for a moment).
 * Returns 0; EINVAL if c is NULL or n < 0. */
WEFT_INLINE int weft_cond_notify(weft_cond *c, int n);

/* Wake every waiting thread (one system call for them all, however many sleep);
 * each re-takes the lock without spinning on it while it is held. Never blocks.
 * Returns 0; EINVAL if c is NULL. */
WEFT_INLINE int weft_cond_notify_all(weft_cond *c);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE int weft_cond_notify(weft_cond *c, int n)
{
    if (!c || n < 0)
        return EINVAL;
    /* relaxed: a waiter counted itself before it released the lock, and the
     * notifier changed the waited-for state under that lock after it, so this
     * load happens after the count (see src/cond.c, "Lost wakeup"). */
    if (n == 0 || atomic_load_explicit(&c->waiters, memory_order_relaxed) == 0)
        return 0;
    return weft__cond_notify_slow(c, n);
}

WEFT_INLINE bool weft_cond_waiting(const weft_cond *c)
{
    /* acquire: pairs with the release stores of the count (src/cond.c), so the
     * waiters that left the count are done with c. */
    return c && atomic_load_explicit(&c->waiters, memory_order_acquire) != 0;
}

WEFT_INLINE int weft_cond_notify_all(weft_cond *c)
{
    if (!c)
        return EINVAL;
    /* relaxed: as in weft_cond_notify. */
    if (atomic_load_explicit(&c->waiters, memory_order_relaxed) == 0)
        return 0;
    return weft__cond_notify_all_slow(c);
}
#endif

#ifdef WEFT__TSAN_MUTEX
/* Under TSan (weft/common.h) the caller's lock is a TSan mutex, which a wait
 * releases and re-takes inside the library: these wrappers tell TSan so, as its
 * interceptors do for pthread_cond_wait (the library tells the happens-before
 * edges itself). A call that will fail with EINVAL or EPERM announces nothing. */
#include "rlock.h"

static inline bool weft__tsan_cond_out(weft_cond *c, weft_lock *l, bool held)
{
    if (!c || !l || !held)
        return false;
    WEFT__TSAN_PRE_UNLOCK(l, 0);
    WEFT__TSAN_POST_UNLOCK(l, 0);
    return true;
}

static inline int weft__tsan_cond_in(weft_lock *l, bool out, int r)
{
    if (out) {
        WEFT__TSAN_PRE_LOCK(l, 0);
        WEFT__TSAN_POST_LOCK(l, 0, false);
    }
    return r;
}

#define WEFT__TSAN_COND_L(c, l) weft__tsan_cond_out((c), (l), (l) && weft_lock_locked(l))
#define WEFT__TSAN_COND_R(c, r) \
    weft__tsan_cond_out((c), (r) ? &(r)->lock : NULL, (r) && weft_rlock_owned(r))

static inline int weft__tsan_cond_wait(weft_cond *c, weft_lock *l, int64_t t)
{
    bool out = WEFT__TSAN_COND_L(c, l);
    return weft__tsan_cond_in(l, out, (weft_cond_wait)(c, l, t));
}
static inline int weft__tsan_cond_wait_until(weft_cond *c, weft_lock *l, weft_deadline d)
{
    bool out = WEFT__TSAN_COND_L(c, l);
    return weft__tsan_cond_in(l, out, (weft_cond_wait_until)(c, l, d));
}
static inline int weft__tsan_cond_wait_for(weft_cond *c, weft_lock *l, bool (*pred)(void *),
                                           void *arg, int64_t t)
{
    bool out = pred && WEFT__TSAN_COND_L(c, l);
    return weft__tsan_cond_in(l, out, (weft_cond_wait_for)(c, l, pred, arg, t));
}
static inline int weft__tsan_cond_wait_for_until(weft_cond *c, weft_lock *l,
                                                 bool (*pred)(void *), void *arg, weft_deadline d)
{
    bool out = pred && WEFT__TSAN_COND_L(c, l);
    return weft__tsan_cond_in(l, out, (weft_cond_wait_for_until)(c, l, pred, arg, d));
}
static inline int weft__tsan_cond_wait_r(weft_cond *c, weft_rlock *r, int64_t t)
{
    bool out = WEFT__TSAN_COND_R(c, r);
    return weft__tsan_cond_in(r ? &r->lock : NULL, out, (weft_cond_wait_r)(c, r, t));
}
static inline int weft__tsan_cond_wait_until_r(weft_cond *c, weft_rlock *r, weft_deadline d)
{
    bool out = WEFT__TSAN_COND_R(c, r);
    return weft__tsan_cond_in(r ? &r->lock : NULL, out, (weft_cond_wait_until_r)(c, r, d));
}
static inline int weft__tsan_cond_wait_for_r(weft_cond *c, weft_rlock *r, bool (*pred)(void *),
                                             void *arg, int64_t t)
{
    bool out = pred && WEFT__TSAN_COND_R(c, r);
    return weft__tsan_cond_in(r ? &r->lock : NULL, out,
                              (weft_cond_wait_for_r)(c, r, pred, arg, t));
}
static inline int weft__tsan_cond_wait_for_until_r(weft_cond *c, weft_rlock *r,
                                                   bool (*pred)(void *), void *arg,
                                                   weft_deadline d)
{
    bool out = pred && WEFT__TSAN_COND_R(c, r);
    return weft__tsan_cond_in(r ? &r->lock : NULL, out,
                              (weft_cond_wait_for_until_r)(c, r, pred, arg, d));
}

/* Calls (not the functions' addresses) go through the wrappers. */
#define weft_cond_wait(c, l, t) weft__tsan_cond_wait(c, l, t)
#define weft_cond_wait_until(c, l, d) weft__tsan_cond_wait_until(c, l, d)
#define weft_cond_wait_for(c, l, p, a, t) weft__tsan_cond_wait_for(c, l, p, a, t)
#define weft_cond_wait_for_until(c, l, p, a, d) weft__tsan_cond_wait_for_until(c, l, p, a, d)
#define weft_cond_wait_r(c, r, t) weft__tsan_cond_wait_r(c, r, t)
#define weft_cond_wait_until_r(c, r, d) weft__tsan_cond_wait_until_r(c, r, d)
#define weft_cond_wait_for_r(c, r, p, a, t) weft__tsan_cond_wait_for_r(c, r, p, a, t)
#define weft_cond_wait_for_until_r(c, r, p, a, d) weft__tsan_cond_wait_for_until_r(c, r, p, a, d)
#endif

WEFT_END_DECLS

#endif
