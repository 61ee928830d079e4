/* The wait layer on Linux futexes.
 *
 * Private futexes (the words never live in shared memory), FUTEX_WAIT_BITSET with
 * an absolute CLOCK_MONOTONIC deadline (WAIT_BITSET without FUTEX_CLOCK_REALTIME
 * measures on CLOCK_MONOTONIC: futex(2)), so a retried wait never stretches the
 * caller's timeout. The kernel compares *word with `expected` under its hash-bucket
 * lock and queues the waiter in the same step; a waker that changed the word first
 * is therefore never missed. */
#include "../internal.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

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

int wf_wake(const _Atomic uint32_t *word, int n)
{
    long r = wf_futex(word, FUTEX_WAKE_PRIVATE, (uint32_t)n, NULL, NULL, 0);
    return r > 0 ? (int)r : 0;
}

int wf_requeue(const _Atomic uint32_t *from, uint32_t expected, int n_wake,
               const _Atomic uint32_t *to, int n_move)
{
    /* FUTEX_CMP_REQUEUE passes the requeue limit in the timeout slot (futex(2)). */
    long r = wf_futex(from, FUTEX_CMP_REQUEUE_PRIVATE, (uint32_t)n_wake,
                      (const struct timespec *)(uintptr_t)(unsigned)n_move, to, expected);
    if (r == -1)
        return errno == EAGAIN ? -EAGAIN : 0;
    return (int)r;
}
