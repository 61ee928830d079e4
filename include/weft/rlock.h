/* weft/rlock.h: weft_rlock, Python's threading.RLock.
 *
 * A 16-byte reentrant lock; all-zero memory (WEFT_RLOCK_INIT) is unlocked and no
 * destroy call is needed. The thread that holds it may acquire it again; it is
 * free once that thread has released it as many times as it acquired it. Only
 * the holder may release it (EPERM otherwise, as Python's RuntimeError). Built
 * on a weft_lock, so it has the same fast paths (one CAS to take it the first
 * time, none to re-enter), spinning, sleeping and eventual fairness.
 *
 * Fields (state table):
 *
 *   lock.word   owner   count   meaning
 *   unlocked    0       0       free
 *   locked      T       k >= 1  held by thread T, acquired k times over
 *   locked      0       0       being taken or given up (the instants between
 *                               the weft_lock step and the owner store)
 *
 * `owner` is the holder's identity (weft__rlock_self(): the pthread_t, never 0
 * for a live thread), written only by the holder while it holds `lock`: a thread
 * that reads its own identity there holds the lock, whatever it races with (it
 * can only ever see its own last store or a later one by another holder, which
 * is another identity or 0). `count` is written and read only by the holder. */
#ifndef WEFT_RLOCK_H
#define WEFT_RLOCK_H

#include "common.h"
#include "lock.h"

#include <pthread.h>

WEFT_BEGIN_DECLS

typedef struct weft_rlock {
    weft_lock lock;              /* taken by the first acquire, released by the last release */
    uint32_t count;              /* recursion depth; the holder's alone */
    WEFT_ATOMIC(uint64_t) owner; /* the holder's identity, 0 when free */
} weft_rlock;

#define WEFT_RLOCK_INIT {WEFT_LOCK_INIT, 0, 0}

/* Slow path behind the inline fast paths; not for direct use. */
WEFT_API int weft__rlock_acquire_slow(weft_rlock *r, weft_deadline d);

/* The calling thread's identity as stored in `owner`. Never blocks. */
WEFT_INLINE uint64_t weft__rlock_self(void);

/* Acquire, blocking until the lock is free or already ours. Returns 0; EINVAL if r
 * is NULL; EAGAIN if the holder has re-entered it 2^32 - 1 times (nothing
 * changes). */
WEFT_INLINE int weft_rlock_acquire(weft_rlock *r);

/* Acquire without blocking: true if the lock was free or already ours and is now
 * held once more; false if another thread holds it (or r is NULL, or on
 * recursion overflow). */
WEFT_INLINE bool weft_rlock_try_acquire(weft_rlock *r);

/* Acquire, blocking at most timeout_ns (WEFT_FOREVER: no limit; 0: a try).
 * Returns 0, ETIMEDOUT once the timeout has passed with another thread holding
 * it, EINVAL (NULL), EAGAIN (recursion overflow). Re-entry never blocks. */
WEFT_INLINE int weft_rlock_acquire_for(weft_rlock *r, int64_t timeout_ns);

/* As weft_rlock_acquire_for with an absolute deadline (see weft_deadline_in). */
WEFT_INLINE int weft_rlock_acquire_until(weft_rlock *r, weft_deadline d);

/* Release one level; the last one frees the lock and wakes one sleeper, if any.
 * Never blocks. Returns 0; EPERM if the calling thread does not hold it (nothing
 * changes); EINVAL if r is NULL. */
WEFT_INLINE int weft_rlock_release(weft_rlock *r);

/* True while some thread holds the lock (a snapshot). Never blocks. */
WEFT_INLINE bool weft_rlock_locked(const weft_rlock *r);

/* True if the calling thread holds the lock (exact: no other thread can change
 * that answer). Never blocks. */
WEFT_INLINE bool weft_rlock_owned(const weft_rlock *r);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE uint64_t weft__rlock_self(void)
{
    /* glibc's pthread_t is an integer, other libcs' a pointer: both cast. */
    return (uint64_t)(uintptr_t)pthread_self();
}

WEFT_INLINE bool weft_rlock_owned(const weft_rlock *r)
{
    /* relaxed: only our own store can make this equal (see the state table). */
    return r && atomic_load_explicit(&r->owner, memory_order_relaxed) == weft__rlock_self();
}

WEFT_INLINE bool weft_rlock_try_acquire(weft_rlock *r)
{
    if (weft_rlock_owned(r)) {
        if (__builtin_expect(r->count == UINT32_MAX, 0))
            return false; /* the slow path reports EAGAIN */
        r->count++;
        return true;
    }
    if (!r || !weft_lock_try_acquire(&r->lock))
        return false;
    /* relaxed: r->lock's acquire orders the critical section; others only compare it. */
    atomic_store_explicit(&r->owner, weft__rlock_self(), memory_order_relaxed);
    r->count = 1;
    return true;
}

WEFT_INLINE int weft_rlock_acquire_until(weft_rlock *r, weft_deadline d)
{
    if (__builtin_expect(weft_rlock_try_acquire(r), 1))
        return 0;
#ifdef WEFT__TSAN_MUTEX
    /* The slow path takes r->lock inside the library: announce it here (a re-entry
     * that overflowed is a failed try, not a second lock). */
    unsigned flags = r && !weft_rlock_owned(r) ? WEFT__TSAN_TIMED(d) : WEFT__TSAN_TRY_LOCK;
    if (r)
        WEFT__TSAN_PRE_LOCK(&r->lock, flags);
    int rc = weft__rlock_acquire_slow(r, d);
    if (r)
        WEFT__TSAN_POST_LOCK(&r->lock, flags, rc != 0);
    return rc;
#else
    return weft__rlock_acquire_slow(r, d);
#endif
}

WEFT_INLINE int weft_rlock_acquire(weft_rlock *r)
{
    return weft_rlock_acquire_until(r, WEFT_DEADLINE_NEVER);
}

WEFT_INLINE int weft_rlock_acquire_for(weft_rlock *r, int64_t timeout_ns)
{
    if (__builtin_expect(weft_rlock_try_acquire(r), 1))
        return 0;
    if (timeout_ns == 0 && r && !weft_rlock_owned(r))
        return ETIMEDOUT;
#ifdef WEFT__TSAN_MUTEX
    return weft_rlock_acquire_until(r, weft_deadline_in(timeout_ns));
#else
    return weft__rlock_acquire_slow(r, weft_deadline_in(timeout_ns));
#endif
}

WEFT_INLINE int weft_rlock_release(weft_rlock *r)
{
    if (!r)
        return EINVAL;
    if (!weft_rlock_owned(r))
        return EPERM;
    if (--r->count > 0)
        return 0;
    /* relaxed: the lock release below publishes it with everything else. */
    atomic_store_explicit(&r->owner, 0, memory_order_relaxed);
    return weft_lock_release(&r->lock);
}

WEFT_INLINE bool weft_rlock_locked(const weft_rlock *r)
{
    return r && weft_lock_locked(&r->lock);
}
#endif

WEFT_END_DECLS

#endif
