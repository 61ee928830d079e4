/* weft_rlock slow paths and the condition variable's hooks. The state table is in
 * include/weft/rlock.h: a weft_lock, plus the holder's identity and recursion
 * count, both written only by the holder. Identities come from a process-wide
 * counter, one per thread, so none is ever reused. Blocking, spinning and
 * fairness are all the weft_lock's. */
#include "internal.h"
#include "tsan.h"
#include "profile_internal.h"

extern inline uint64_t weft__rlock_self(void);
extern inline bool weft_rlock_owned(const weft_rlock *r);
extern inline bool weft_rlock_try_acquire(weft_rlock *r);
extern inline int weft_rlock_acquire(weft_rlock *r);
extern inline int weft_rlock_acquire_for(weft_rlock *r, int64_t timeout_ns);
extern inline int weft_rlock_acquire_until(weft_rlock *r, weft_deadline d);
extern inline int weft_rlock_release(weft_rlock *r);
extern inline bool weft_rlock_locked(const weft_rlock *r);

_Thread_local uint64_t weft__rlock_me __attribute__((tls_model("initial-exec")));

/* The last identity given; 64 bits never wrap (a thread a nanosecond would take
 * centuries). */
static _Atomic uint64_t wf_rlock_last_id;

uint64_t weft__rlock_self_slow(void)
{
    /* relaxed: only uniqueness matters, which the read-modify-write gives. */
    uint64_t me = atomic_fetch_add_explicit(&wf_rlock_last_id, 1, memory_order_relaxed) + 1;
    weft__rlock_me = me;
    return me;
}

/* Reached when the inline try failed: r is NULL, the holder overflowed its
 * count, or another thread holds the lock. */
int weft__rlock_acquire_slow(weft_rlock *r, weft_deadline d)
{
    if (!r)
        return EINVAL;
    if (weft_rlock_owned(r)) {
        if (r->count == UINT32_MAX)
            return EAGAIN;
        r->count++;
        return 0;
    }
    int rc;
    if (WF_LIKELY(!wf_profile_on())) {
        rc = weft_lock_acquire_until(&r->lock, d);
    } else {
        /* The caller's return address is the site of the waits, not ours. */
        void *outer = wf_profile_enter(__builtin_return_address(0));
        rc = weft_lock_acquire_until(&r->lock, d);
        wf_profile_leave(outer);
    }
    if (rc != 0)
        return rc;
    /* The library's inline acquire may have won uncontended, an atomic TSan does
     * not see here (src/tsan.h): told on the word the user's fast paths use. */
    wf_tsan_acquire(&r->lock.word);
    /* relaxed: ordered by the lock's acquire; other threads only compare it. */
    atomic_store_explicit(&r->owner, weft__rlock_self(), memory_order_relaxed);
    r->count = 1;
    return 0;
}

uint32_t wf_rlock_release_all(weft_rlock *r)
{
    if (!weft_rlock_owned(r))
        return 0;
    uint32_t count = r->count;
    r->count = 0;
    /* relaxed: the lock release below publishes it. */
    atomic_store_explicit(&r->owner, 0, memory_order_relaxed);
    wf_tsan_release(&r->lock.word); /* the release may be the inline one: as above */
    weft_lock_release(&r->lock);
    return count;
}

void wf_rlock_restore(weft_rlock *r, uint32_t count)
{
    /* relaxed: the caller's re-acquire of r->lock ordered us after the last holder. */
    atomic_store_explicit(&r->owner, weft__rlock_self(), memory_order_relaxed);
    r->count = count;
}
