/* weft/rlock.h: weft_rlock, Python's threading.RLock.
 *
 * A 16-byte reentrant lock; all-zero memory (WEFT_RLOCK_INIT) is unlocked and no
 * destroy call is needed. The thread that holds it may acquire it again; it is
 * free once that thread has released it as many times as it acquired it. Only
 * the holder may release it (EPERM otherwise, as Python's RuntimeError). A holder
 * that exits without releasing it leaves it held for good, owned by no thread:
 * no later thread (not even one that gets the same pthread_t) owns it, re-enters
 * it or may release it. Built on a weft_lock, so it has the same fast paths (one
 * CAS to take it the first time, none to re-enter), spinning, sleeping and
 * eventual fairness.
 *
 * Fields (state table):
 *
 *   lock.word   owner   count   meaning
 *   unlocked    0       0       free
 *   locked      T       k >= 1  held by thread T, acquired k times over
 *   locked      0       0       being taken or given up (the instants between
 *                               the weft_lock step and the owner store)
 *
 * `owner` is the holder's identity (weft__rlock_self(): a number a thread is
 * given from a process-wide counter when it first takes an rlock, never 0 and
 * never given to another thread, so a holder that exits leaves a name no later
 * thread has), written only by the holder while it holds `lock`: a thread that
 * reads its own identity there holds the lock, whatever it races with (it can
 * only ever see its own last store or a later one by another holder, which is
 * another identity or 0). `count` is written and read only by the holder. */
#ifndef WEFT_RLOCK_H
#define WEFT_RLOCK_H

#include "common.h"
#include "lock.h"

#include <pthread.h> /* no longer used here; kept for includers that rely on it */

WEFT_BEGIN_DECLS

typedef struct weft_rlock {
    weft_lock lock;              /* taken by the first acquire, released by the last release */
    uint32_t count;              /* recursion depth; the holder's alone */
    WEFT_ATOMIC(uint64_t) owner; /* the holder's identity, 0 when free */
} weft_rlock;

#define WEFT_RLOCK_INIT {WEFT_LOCK_INIT, 0, 0}

/* Slow paths behind the inline fast paths; not for direct use. */
WEFT_API int weft__rlock_acquire_slow(weft_rlock *r, weft_deadline d);
WEFT_API uint64_t weft__rlock_self_slow(void);

/* The calling thread's identity as stored in `owner`, given on its first call.
 * Never blocks. */
WEFT_INLINE uint64_t weft__rlock_self(void);

/* Acquire, blocking until the lock is free or already ours (forever if its holder
 * exited holding it). Returns 0; EINVAL if r is NULL; EAGAIN if the holder has
 * re-entered it 2^32 - 1 times (nothing changes). */
WEFT_INLINE int weft_rlock_acquire(weft_rlock *r);

/* Acquire without blocking: true if the lock was free or already ours and is now
 * held once more; false if another thread holds it (or r is NULL, or on
 * recursion overflow). */
WEFT_INLINE bool weft_rlock_try_acquire(weft_rlock *r);

/* Acquire, blocking at most timeout_ns (WEFT_FOREVER: no limit; 0: a try).
 * Returns 0, ETIMEDOUT once the timeout has passed with another thread holding
 * it, EINVAL (NULL), EAGAIN (recursion overflow). Re-entry never blocks. */
WEFT_INLINE int weft_rlock_acquire_for(weft_rlock *r, int64_t timeout_ns);

/* As weft_rlock_acquire_for with an absolute deadline (see weft_deadline_in), and
 * ECANCELED once d's token (weft_deadline_with_cancel) or an ancestor of it has
 * fired with another thread holding the lock: nothing acquired. A free lock, or a
 * re-entry, is taken even under a fired token. */
WEFT_INLINE int weft_rlock_acquire_until(weft_rlock *r, weft_deadline d);

/* Release one level; the last one frees the lock and wakes one sleeper, if any.
 * Never blocks. Returns 0; EPERM if the calling thread does not hold it (nothing
 * changes); EINVAL if r is NULL. */
WEFT_INLINE int weft_rlock_release(weft_rlock *r);

/* True while some thread holds the lock (a snapshot; false for NULL; true for
 * good once a holder exited holding it). Never blocks. */
WEFT_INLINE bool weft_rlock_locked(const weft_rlock *r);

/* True if the calling thread holds the lock (exact: no other thread can change
 * that answer; false for NULL). Never blocks. */
WEFT_INLINE bool weft_rlock_owned(const weft_rlock *r);

#ifdef WEFT_HAVE_INLINE
/* The calling thread's identity, 0 until weft__rlock_self_slow gives it one.
 * initial-exec: one %fs-relative load, no __tls_get_addr call (the library is
 * loaded at startup, or fits the static TLS surplus glibc keeps for dlopen). */
WEFT_API extern _Thread_local uint64_t weft__rlock_me __attribute__((tls_model("initial-exec")));

WEFT_INLINE uint64_t weft__rlock_self(void)
{
    uint64_t me = weft__rlock_me;
    return __builtin_expect(me != 0, 1) ? me : weft__rlock_self_slow();
}

WEFT_INLINE bool weft_rlock_owned(const weft_rlock *r)
{
    /* A thread without an identity has never held an rlock (and 0 is a free
     * lock's owner). relaxed: only our own store can make this equal (see the
     * state table). */
    uint64_t me = weft__rlock_me;
    return r && me != 0 && atomic_load_explicit(&r->owner, memory_order_relaxed) == me;
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
    int rc = r ? WEFT__TSAN_SLOW(&r->lock, weft__rlock_acquire_slow(r, d))
               : weft__rlock_acquire_slow(r, d);
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

#ifdef WEFT_CHECKS
/* A checking build (weft/config.h): every call goes out of line through the
 * lock-order checker (src/lockdep.c), which then runs the code above (the
 * library's own calls stay inline and unchecked). */
WEFT_API int weft__checked_rlock_acquire(weft_rlock *r);
WEFT_API bool weft__checked_rlock_try_acquire(weft_rlock *r);
WEFT_API int weft__checked_rlock_acquire_for(weft_rlock *r, int64_t timeout_ns);
WEFT_API int weft__checked_rlock_acquire_until(weft_rlock *r, weft_deadline d);
WEFT_API int weft__checked_rlock_release(weft_rlock *r);
#ifndef WEFT_BUILDING
#define weft_rlock_acquire(r) weft__checked_rlock_acquire(r)
#define weft_rlock_try_acquire(r) weft__checked_rlock_try_acquire(r)
#define weft_rlock_acquire_for(r, t) weft__checked_rlock_acquire_for(r, t)
#define weft_rlock_acquire_until(r, d) weft__checked_rlock_acquire_until(r, d)
#define weft_rlock_release(r) weft__checked_rlock_release(r)
#endif
#endif

WEFT_END_DECLS

#endif
