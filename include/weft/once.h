/* weft/once.h: weft_once, one-time initialization (pthread_once, C11 call_once).
 *
 * A 4-byte flag; all-zero memory (WEFT_ONCE_INIT) has not run and needs no destroy
 * call. weft_once_call runs its function exactly once per flag, however many
 * threads call it; the others sleep until it has returned, and then see what it
 * wrote. Once done, a call is one acquire load.
 *
 * State table:
 *
 *   state              meaning
 *   0                  not run yet: the first caller to CAS in RUNNING runs it
 *   RUNNING            running, nobody waits: finishing makes no system call
 *   RUNNING|WAITERS    running, callers may sleep on this word: finishing wakes all
 *   DONE               finished; stays so for good
 */
#ifndef WEFT_ONCE_H
#define WEFT_ONCE_H

#include "common.h"

WEFT_BEGIN_DECLS

#define WEFT_ONCE_RUNNING 1u /* a caller is running the function */
#define WEFT_ONCE_WAITERS 2u /* callers may sleep until it returns */
#define WEFT_ONCE_DONE 4u    /* the function has returned */

typedef struct weft_once {
    WEFT_ATOMIC(uint32_t) state;
} weft_once;

#define WEFT_ONCE_INIT {0}

/* Slow path behind the inline fast path; not for direct use. */
WEFT_API int weft__once_call_slow(weft_once *o, void (*fn)(void *), void *arg);

/* Run fn(arg) if no call on *o has run its function yet; otherwise block until
 * that function has returned (forever, if it never does). Everything it wrote is
 * visible to the caller once this returns. Returns 0; EINVAL if o or fn is NULL
 * (nothing runs); EDEADLK if called from inside the function it would wait for
 * (a recursive call on the same flag, which would otherwise hang). fn must
 * return normally (no longjmp out of it, no thread exit inside it). */
WEFT_INLINE int weft_once_call(weft_once *o, void (*fn)(void *), void *arg);

/* True once the function of *o has returned (then its writes are visible to the
 * caller). Never blocks. */
WEFT_INLINE bool weft_once_done(const weft_once *o);

#ifdef WEFT_HAVE_INLINE
WEFT_INLINE bool weft_once_done(const weft_once *o)
{
    /* acquire: pairs with the release that stored DONE, so fn's writes are visible. */
    return o && atomic_load_explicit(&o->state, memory_order_acquire) == WEFT_ONCE_DONE;
}

WEFT_INLINE int weft_once_call(weft_once *o, void (*fn)(void *), void *arg)
{
    if (__builtin_expect(weft_once_done(o) && fn, 1))
        return 0;
    return weft__once_call_slow(o, fn, arg);
}
#endif

WEFT_END_DECLS

#endif
