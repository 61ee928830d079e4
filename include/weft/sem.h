/* weft/sem.h: weft_sem, Python's threading.Semaphore and BoundedSemaphore.
 *
 * An 8-byte counting semaphore; all-zero memory (WEFT_SEM_INIT(0)) is a plain
 * semaphore with count 0, and no destroy call is needed. acquire takes one unit,
 * sleeping while there is none; release(n) adds n units and wakes at most n
 * sleepers (never a thundering herd), with no system call when nobody sleeps.
 * A bounded semaphore refuses to rise above its initial value (EOVERFLOW, count
 * unchanged), which catches a release without its acquire. Uncontended acquire
 * and release are one compare-and-swap each.
 *
 * `value` state table (C = the count, bits 0-30; WAITERS = bit 31):
 *
 *   value          meaning
 *   C (>= 0)       C units free; release makes no system call
 *   WAITERS        no unit free and threads may sleep: release wakes
 *
 * WAITERS appears only with C == 0. Threads sleep only on value == WAITERS.
 *
 * `limit`: 0 for a plain semaphore (bound: WEFT_SEM_VALUE_MAX); for a bounded one
 * WEFT_SEM_BOUNDED | its initial value (the flag tells a bounded semaphore of 0,
 * which can never be released, from a plain one). Set by init, read-only after.
 */
#ifndef WEFT_SEM_H
#define WEFT_SEM_H

#include "common.h"

WEFT_BEGIN_DECLS

#define WEFT_SEM_VALUE_MAX 0x7fffffffu /* the largest count: 31 bits */
#define WEFT_SEM_WAITERS 0x80000000u   /* value: threads may sleep */
#define WEFT_SEM_BOUNDED 0x80000000u   /* limit: bounded; the low 31 bits are the bound */

typedef struct weft_sem {
    WEFT_ATOMIC(uint32_t) value; /* count | WAITERS, see the state table */
    uint32_t limit;              /* 0, or WEFT_SEM_BOUNDED | bound */
} weft_sem;

/* Static initializers: a plain semaphore of count v, a bounded one of v
 * (v <= WEFT_SEM_VALUE_MAX). */
#define WEFT_SEM_INIT(v) {(v), 0}
#define WEFT_SEM_BOUNDED_INIT(v) {(v), WEFT_SEM_BOUNDED | (v)}

/* Slow paths behind the inline fast paths; not for direct use. */
WEFT_API int weft__sem_acquire_slow(weft_sem *s, weft_deadline d);
WEFT_API int weft__sem_release_slow(weft_sem *s, uint32_t n);

/* Make *s a plain semaphore with count `value` (Python's Semaphore(value)).
 * Not thread-safe: nobody may use *s meanwhile. Never blocks. Returns 0, or
 * EINVAL if s is NULL or value > WEFT_SEM_VALUE_MAX (nothing changes). */
WEFT_API int weft_sem_init(weft_sem *s, uint32_t value);

/* As weft_sem_init for a bounded semaphore (Python's BoundedSemaphore(value)):
 * releases that would lift the count above `value` fail with EOVERFLOW. */
WEFT_API int weft_sem_init_bounded(weft_sem *s, uint32_t value);

/* Take one unit without blocking: true if one was free and is now ours; false
 * if none was (or s is NULL). */
WEFT_INLINE bool weft_sem_try_acquire(weft_sem *s);

/* Take one unit, blocking until one is free. Returns 0, or EINVAL if s is NULL. */
WEFT_INLINE int weft_sem_acquire(weft_sem *s);

/* Take one unit, blocking at most timeout_ns (WEFT_FOREVER: no limit; 0: a try).
 * Returns 0, ETIMEDOUT once the timeout has passed with no unit free, or EINVAL
 * if s is NULL. */
WEFT_INLINE int weft_sem_acquire_for(weft_sem *s, int64_t timeout_ns);

/* As weft_sem_acquire_for with an absolute deadline (see weft_deadline_in), and
 * ECANCELED once d's token (weft_deadline_with_cancel) or an ancestor of it has
 * fired with no unit free: no unit taken, the count unchanged. A free unit is taken
 * even under a fired token; none is then spun or slept for. */
WEFT_INLINE int weft_sem_acquire_until(weft_sem *s, weft_deadline d);

/* Add n units and wake at most n sleepers; never blocks, and makes no system
 * call when nobody sleeps. Returns 0; EINVAL if s is NULL or n == 0; EOVERFLOW
 * if the count would pass the bound of a bounded semaphore or
 * WEFT_SEM_VALUE_MAX (the count is unchanged). */
WEFT_INLINE int weft_sem_release(weft_sem *s, uint32_t n);

/* The current count (a snapshot; 0 for NULL). Never blocks. */
WEFT_INLINE uint32_t weft_sem_value(const weft_sem *s);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE bool weft_sem_try_acquire(weft_sem *s)
{
    if (!s)
        return false;
    /* relaxed: only picks the CAS's expected value. */
    uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    /* A non-zero count has WAITERS clear, so v - 1 is just one unit less. */
    while (v & WEFT_SEM_VALUE_MAX) {
        /* acquire: pairs with the release that added this unit. */
        if (atomic_compare_exchange_weak_explicit(&s->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

WEFT_INLINE int weft_sem_acquire_until(weft_sem *s, weft_deadline d)
{
    if (__builtin_expect(weft_sem_try_acquire(s), 1))
        return 0;
    return weft__sem_acquire_slow(s, d);
}

WEFT_INLINE int weft_sem_acquire(weft_sem *s)
{
    return weft_sem_acquire_until(s, WEFT_DEADLINE_NEVER);
}

WEFT_INLINE int weft_sem_acquire_for(weft_sem *s, int64_t timeout_ns)
{
    if (__builtin_expect(weft_sem_try_acquire(s), 1))
        return 0;
    if (timeout_ns == 0 && s)
        return ETIMEDOUT;
    return weft__sem_acquire_slow(s, weft_deadline_in(timeout_ns));
}

WEFT_INLINE int weft_sem_release(weft_sem *s, uint32_t n)
{
    /* The fast path: 1 <= n, nobody sleeps, the bound leaves room. */
    if (__builtin_expect(s != NULL && n - 1u < WEFT_SEM_VALUE_MAX, 1)) {
        uint32_t max = s->limit ? s->limit & WEFT_SEM_VALUE_MAX : WEFT_SEM_VALUE_MAX;
        /* relaxed: only picks the CAS's expected value. */
        uint32_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
        /* release: publishes what we did before to whoever takes these units. */
        if (!(v & WEFT_SEM_WAITERS) && v <= max && n <= max - v &&
            atomic_compare_exchange_strong_explicit(&s->value, &v, v + n, memory_order_release,
                                                    memory_order_relaxed))
            return 0;
    }
    return weft__sem_release_slow(s, n);
}

WEFT_INLINE uint32_t weft_sem_value(const weft_sem *s)
{
    /* relaxed: a snapshot that orders nothing. */
    return s ? atomic_load_explicit(&s->value, memory_order_relaxed) & WEFT_SEM_VALUE_MAX : 0;
}
#endif

WEFT_END_DECLS

#endif
