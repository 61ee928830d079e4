/* weft/lock.h: weft_lock, Python's threading.Lock.
 *
 * A 4-byte mutual-exclusion lock; all-zero memory (WEFT_LOCK_INIT) is unlocked and
 * no destroy call is needed. Not recursive, not owned: as in Python, any thread may
 * release a locked lock. Uncontended acquire and release are one atomic
 * compare-and-swap each and no system call; a contended acquire spins briefly and
 * then sleeps; release makes a system call only when a thread sleeps on the lock.
 * Eventually fair: a thread that has slept on the lock for about a millisecond is
 * handed the lock directly at the next release, even while others acquire and
 * release it in a tight loop.
 */
#ifndef WEFT_LOCK_H
#define WEFT_LOCK_H

#include "common.h"

WEFT_BEGIN_DECLS

/* The lock word. State table (bits may combine as shown):
 *
 *   value                      meaning
 *   0                          unlocked, nobody sleeping
 *   LOCKED                     locked, nobody sleeping: release is one CAS
 *   LOCKED|PARKED              locked, a thread may sleep: release wakes one
 *   LOCKED|PARKED|FAIR         ... and a sleeper has starved: release hands off
 *   LOCKED|HANDOFF(|PARKED)    released by handoff: owned by whichever woken
 *                              sleeper clears HANDOFF; nobody else may take it
 *
 * FAIR and HANDOFF only ever appear with LOCKED; a plain unlock stores 0. */
#define WEFT_LOCK_LOCKED 1u
#define WEFT_LOCK_PARKED 2u
#define WEFT_LOCK_FAIR 4u
#define WEFT_LOCK_HANDOFF 8u

typedef struct weft_lock {
    WEFT_ATOMIC(uint32_t) word;
} weft_lock;

#define WEFT_LOCK_INIT {0}

/* Slow paths behind the inline fast paths; not for direct use. */
WEFT_API int weft__lock_acquire_slow(weft_lock *l, weft_deadline d);
WEFT_API int weft__lock_release_slow(weft_lock *l);

/* Acquire the lock, blocking until it is free; returns 0 (EINVAL if l is NULL). */
WEFT_INLINE int weft_lock_acquire(weft_lock *l);

/* Acquire without blocking: true if the lock was free and is now ours (false for
 * NULL). */
WEFT_INLINE bool weft_lock_try_acquire(weft_lock *l);

/* Acquire, blocking at most timeout_ns (WEFT_FOREVER: no limit; 0: a try).
 * Returns 0, ETIMEDOUT once the timeout has passed with the lock still held
 * elsewhere, or EINVAL if l is NULL. */
WEFT_INLINE int weft_lock_acquire_for(weft_lock *l, int64_t timeout_ns);

/* As weft_lock_acquire_for with an absolute deadline (see weft_deadline_in), and
 * ECANCELED once d's token (weft_deadline_with_cancel) or an ancestor of it has
 * fired with the lock still held elsewhere: nothing acquired. A free lock is taken
 * even under a fired token; a held one is then not spun or slept for. */
WEFT_INLINE int weft_lock_acquire_until(weft_lock *l, weft_deadline d);

/* Release the lock; never blocks. Returns 0, EPERM if it was not locked (nothing
 * changes) or EINVAL if l is NULL. Wakes one sleeper, if any. */
WEFT_INLINE int weft_lock_release(weft_lock *l);

/* True while the lock is held (a snapshot; false for NULL). Never blocks. */
WEFT_INLINE bool weft_lock_locked(const weft_lock *l);

#ifdef WEFT_HAVE_INLINE
/* The uncontended acquire, one CAS. acquire: the critical section must see what
 * the last owner wrote. */
#define WEFT__LOCK_CAS(l, unlocked)                                                  \
    atomic_compare_exchange_strong_explicit(&(l)->word, &(unlocked), WEFT_LOCK_LOCKED, \
                                            memory_order_acquire, memory_order_relaxed)

WEFT_INLINE bool weft_lock_try_acquire(weft_lock *l)
{
    uint32_t unlocked = 0;
    if (__builtin_expect(l == NULL, 0))
        return false;
    WEFT__TSAN_PRE_LOCK(l, WEFT__TSAN_TRY_LOCK);
    bool ok = WEFT__LOCK_CAS(l, unlocked);
    WEFT__TSAN_POST_LOCK(l, WEFT__TSAN_TRY_LOCK, !ok);
    return ok;
}

WEFT_INLINE int weft_lock_acquire_until(weft_lock *l, weft_deadline d)
{
    uint32_t unlocked = 0;
    if (__builtin_expect(l == NULL, 0))
        return EINVAL;
    WEFT__TSAN_PRE_LOCK(l, WEFT__TSAN_TIMED(d));
    int r = __builtin_expect(WEFT__LOCK_CAS(l, unlocked), 1)
                ? 0
                : WEFT__TSAN_SLOW(l, weft__lock_acquire_slow(l, d));
    WEFT__TSAN_POST_LOCK(l, WEFT__TSAN_TIMED(d), r != 0);
    return r;
}

WEFT_INLINE int weft_lock_acquire(weft_lock *l)
{
    return weft_lock_acquire_until(l, WEFT_DEADLINE_NEVER);
}

WEFT_INLINE int weft_lock_acquire_for(weft_lock *l, int64_t timeout_ns)
{
    uint32_t unlocked = 0;
    if (__builtin_expect(l == NULL, 0))
        return EINVAL;
    WEFT__TSAN_PRE_LOCK(l, timeout_ns < 0 ? 0u : WEFT__TSAN_TRY_LOCK);
    int r = 0;
    /* The deadline is computed only once the fast path has failed. */
    if (!__builtin_expect(WEFT__LOCK_CAS(l, unlocked), 1))
        r = timeout_ns == 0 ? ETIMEDOUT
                            : WEFT__TSAN_SLOW(l, weft__lock_acquire_slow(l, weft_deadline_in(timeout_ns)));
    WEFT__TSAN_POST_LOCK(l, timeout_ns < 0 ? 0u : WEFT__TSAN_TRY_LOCK, r != 0);
    return r;
}

WEFT_INLINE int weft_lock_release(weft_lock *l)
{
    uint32_t locked = WEFT_LOCK_LOCKED;
    if (__builtin_expect(l == NULL, 0))
        return EINVAL;
#ifdef WEFT__TSAN_MUTEX
    /* A release that finds the lock free is EPERM and changes nothing (as of this
     * load): no unlock to announce. */
    if (!weft_lock_locked(l))
        return EPERM;
#endif
    WEFT__TSAN_PRE_UNLOCK(l, 0);
    /* release: publishes the critical section to the next owner. Any other bit set
     * (a sleeper, a starving sleeper) takes the slow path. */
    int r = 0;
    if (!__builtin_expect(atomic_compare_exchange_strong_explicit(
                              &l->word, &locked, 0, memory_order_release, memory_order_relaxed),
                          1)) {
        r = WEFT__TSAN_SLOW(l, weft__lock_release_slow(l));
        /* Not a tail call: the slow path's return address must be the caller's
         * (the contention profile blames it), even when the caller ends with this
         * release. Costs nothing on the fast path. */
        __asm__ __volatile__("" : "+r"(r));
    }
    WEFT__TSAN_POST_UNLOCK(l, 0);
    return r;
}

WEFT_INLINE bool weft_lock_locked(const weft_lock *l)
{
    /* relaxed: a snapshot that orders nothing. */
    return l != NULL && (atomic_load_explicit(&l->word, memory_order_relaxed) & WEFT_LOCK_LOCKED) != 0;
}
#endif

#ifdef WEFT_CHECKS
/* A checking build (weft/config.h): every call goes out of line through the
 * lock-order checker (src/lockdep.c), which then runs the code above (the
 * library's own calls stay inline and unchecked). */
WEFT_API int weft__checked_lock_acquire(weft_lock *l);
WEFT_API bool weft__checked_lock_try_acquire(weft_lock *l);
WEFT_API int weft__checked_lock_acquire_for(weft_lock *l, int64_t timeout_ns);
WEFT_API int weft__checked_lock_acquire_until(weft_lock *l, weft_deadline d);
WEFT_API int weft__checked_lock_release(weft_lock *l);
#ifndef WEFT_BUILDING
#define weft_lock_acquire(l) weft__checked_lock_acquire(l)
#define weft_lock_try_acquire(l) weft__checked_lock_try_acquire(l)
#define weft_lock_acquire_for(l, t) weft__checked_lock_acquire_for(l, t)
#define weft_lock_acquire_until(l, d) weft__checked_lock_acquire_until(l, d)
#define weft_lock_release(l) weft__checked_lock_release(l)
#endif
#endif

WEFT_END_DECLS

#endif
