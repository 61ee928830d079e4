/* The wait layer on Linux futexes.
 *
 * Private futexes (the words never live in shared memory), FUTEX_WAIT_BITSET with
 * an absolute CLOCK_MONOTONIC deadline (WAIT_BITSET without FUTEX_CLOCK_REALTIME
 * measures on CLOCK_MONOTONIC: futex(2)), so a retried wait never stretches the
 * caller's timeout. The kernel compares *word with `expected` under its hash-bucket
 * lock and queues the waiter in the same step; a waker that changed the word first
 * is therefore never missed.
 *
 * A wait on several words is futex_waitv (Linux 5.16): the kernel queues the waiter
 * on every word, then compares them all, and any wake on one of them wakes it; the
 * timeout is absolute on CLOCK_MONOTONIC too.
 *
 * Without futex_waitv (an older kernel, or a seccomp filter that refuses it) a
 * thread can sleep in the kernel on one word only, and a wake on another of its
 * words would never reach it: a waker knows nothing of a sleeper it does not find
 * on its own word. So the sleeper must be findable from each of its words, which is
 * what the parking lot of the portable backend provides (src/portable/park.c: one
 * record per word, in that word's bucket, sharing one woken flag). In that case
 * wf_wait_any parks there, and every wf_wake looks in the lot's
 * bucket of its word after the futex call (one mutex more per wake, on those kernels
 * only; single-word waits still use futexes). Whether to is decided once, by a probe
 * run before main (a library constructor), so that the flag never changes while
 * threads sleep or wake and a relaxed load of it is enough; a wait_any that runs
 * earlier (from another constructor) probes for itself. */
#include "../internal.h"
#include "../portable/park.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

/* futex_waitv's ABI (linux/futex.h), spelled out: older headers lack it. */
struct wf_futex_waitv {
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t reserved;
};
#define WF_FUTEX2_SIZE_U32 0x02u /* FUTEX2_SIZE_U32 (FUTEX_32 in older headers) */
#define WF_FUTEX2_PRIVATE 128u   /* FUTEX2_PRIVATE, as FUTEX_PRIVATE_FLAG */
#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* the same on every architecture */
#endif

enum { WF_WAITV_UNKNOWN, WF_WAITV_OK, WF_WAITV_MISSING };

/* Whether futex_waitv works: written by the probe before main (or by the first
 * wait_any, or the test hook, before any thread sleeps), read-only after. relaxed
 * everywhere: threads that use it were started after it was written. */
static _Atomic int wf_waitv = WF_WAITV_UNKNOWN;

/* futex_waitv with no waiters is EINVAL where the call exists, ENOSYS (EPERM under
 * some seccomp filters) where it does not. */
__attribute__((constructor)) static void wf_waitv_probe(void)
{
    if (atomic_load_explicit(&wf_waitv, memory_order_relaxed) != WF_WAITV_UNKNOWN)
        return;
    long r = syscall(SYS_futex_waitv, NULL, 0, 0, NULL, CLOCK_MONOTONIC);
    atomic_store_explicit(&wf_waitv, r == -1 && errno == EINVAL ? WF_WAITV_OK : WF_WAITV_MISSING,
                          memory_order_relaxed);
}

static bool wf_use_lot(void)
{
    return atomic_load_explicit(&wf_waitv, memory_order_relaxed) == WF_WAITV_MISSING;
}

void wf_wait_any_force_fallback(void)
{
    atomic_store_explicit(&wf_waitv, WF_WAITV_MISSING, memory_order_relaxed);
}

static long wf_futex(const _Atomic uint32_t *uaddr, int op, uint32_t val,
                     const struct timespec *timeout, const _Atomic uint32_t *uaddr2,
                     uint32_t val3)
{
    return syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

int wf_wait(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d)
{
    struct timespec ts, *tsp = NULL;
    if (d.ns != INT64_MAX) {
        if (d.ns <= weft_now_ns())
            return ETIMEDOUT;
        ts = wf_timespec(d);
        tsp = &ts;
    }
    long r = wf_futex(word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, NULL,
                      FUTEX_BITSET_MATCH_ANY);
    /* EAGAIN: *word had already changed; EINTR: a signal. Both are plain returns:
     * the caller re-checks its condition. */
    if (r == -1 && errno == ETIMEDOUT)
        return ETIMEDOUT;
    return 0;
}

int wf_wait_any(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                weft_deadline d)
{
    if (n < 1 || n > WF_WAIT_ANY_MAX)
        return EINVAL;
    if (n == 1)
        return wf_wait(words[0], expected[0], d);
    if (WF_UNLIKELY(atomic_load_explicit(&wf_waitv, memory_order_relaxed) == WF_WAITV_UNKNOWN))
        wf_waitv_probe();
    if (wf_use_lot())
        return wf_lot_wait_any(words, expected, n, d);
    struct timespec ts, *tsp = NULL;
    if (d.ns != INT64_MAX) {
        if (d.ns <= weft_now_ns())
            return ETIMEDOUT;
        ts = wf_timespec(d);
        tsp = &ts;
    }
    struct wf_futex_waitv v[WF_WAIT_ANY_MAX];
    for (int i = 0; i < n; i++)
        v[i] = (struct wf_futex_waitv){.val = expected[i],
                                       .uaddr = (uint64_t)(uintptr_t)words[i],
                                       .flags = WF_FUTEX2_SIZE_U32 | WF_FUTEX2_PRIVATE,
                                       .reserved = 0};
    /* Returns the index of a word that was woken (also when the timeout raced it);
     * EAGAIN: a word had already changed; EINTR: a signal. All but the timeout are
     * plain returns: the caller re-checks. */
    long r = syscall(SYS_futex_waitv, v, (unsigned)n, 0, tsp, CLOCK_MONOTONIC);
    if (r == -1 && errno == ETIMEDOUT)
        return ETIMEDOUT;
    return 0;
}

int wf_wake(const _Atomic uint32_t *word, int n)
{
    long r = wf_futex(word, FUTEX_WAKE_PRIVATE, (uint32_t)n, NULL, NULL, 0);
    int woken = r > 0 ? (int)r : 0;
    /* Without futex_waitv, sleepers on several words park in the lot (see the top). */
    if (WF_UNLIKELY(wf_use_lot()) && woken < n)
        woken += wf_lot_wake(word, n - woken);
    return woken;
}
