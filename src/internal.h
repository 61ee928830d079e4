/* internal.h: what the library's own files share and users never see.
 *
 * The wait layer is the only place the two backends differ (src/linux/futex.c,
 * src/portable/park.c); every primitive is written once on top of it. */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "weft.h"

#include <limits.h>
#include <stdatomic.h>
#include <time.h>

#define WF_HIDDEN __attribute__((visibility("hidden")))

/* The cache line of the machines weft targets (x86-64, most arm64): what hot
 * words are aligned to so that each has a line of its own. */
#define WF_CACHE_LINE 64

/* ---- wait layer ---------------------------------------------------------------
 * wf_wait: sleep while *word == expected, until woken or `d` passes. The compare
 * and the sleep are one atomic step against wf_wake on the same word: a waker
 * that changes *word before calling wf_wake can never be missed (the lost-wakeup
 * race every caller relies on). Returns 0 when woken, when *word != expected, or
 * spuriously; ETIMEDOUT only once `d` has passed. Callers re-check their
 * condition in a loop.
 *
 * wf_wake: wake up to `n` threads sleeping on `word` (INT_MAX: all); returns how
 * many it woke.
 *
 * None of these is a memory barrier: the happens-before edges are carried by the
 * atomic operations on the words themselves (which is also what TSan sees). */
WF_HIDDEN int wf_wait(const _Atomic uint32_t *word, uint32_t expected, weft_deadline d);
WF_HIDDEN int wf_wake(const _Atomic uint32_t *word, int n);

/* wf_wait_any: sleep while every words[i] == expected[i] (0 <= i < n, 1 <= n <=
 * WF_WAIT_ANY_MAX), until any of them is woken or `d` passes: wf_wait on several
 * words at once, with its contract (0 when woken, when a word differs, or
 * spuriously; ETIMEDOUT only once d.ns has passed; d.cancel is not looked at here:
 * wf_sleep adds the token's words). A wf_wake on any word wakes the sleeper once.
 * A word may appear more than once. EINVAL for n out of range.
 *
 * Linux: futex_waitv (5.16+). On an older kernel (or where a seccomp filter
 * refuses it) the sleeper parks in the portable parking lot instead, and wf_wake
 * then also looks there (src/linux/futex.c says how and why). */
#define WF_WAIT_ANY_MAX 128 /* futex_waitv's limit (FUTEX_WAITV_MAX) */
WF_HIDDEN int wf_wait_any(const _Atomic uint32_t *const *words, const uint32_t *expected, int n,
                          weft_deadline d);

/* For tests, before any thread sleeps or wakes: make wf_wait_any use its fallback
 * (Linux: the parking lot, as on a kernel without futex_waitv; portable: nothing
 * to change). */
WF_HIDDEN void wf_wait_any_force_fallback(void);

/* ---- helpers ---------------------------------------------------------------- */
WF_HIDDEN struct timespec wf_timespec(weft_deadline d);

/* One pause of a spin loop: tells the core we are spinning (saves power, frees
 * the sibling hyperthread). */
static inline void wf_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

/* One step of exponential backoff in a spin loop: *pauses pauses, then *pauses
 * doubles up to `max`; returns the pauses spent. A spinner that loads a contended
 * word only between ever longer pause runs leaves its cache line to the thread
 * making progress (the owner, the peer filling a queue). */
static inline unsigned wf_backoff(unsigned *pauses, unsigned max)
{
    unsigned n = *pauses;
    for (unsigned i = 0; i < n; i++)
        wf_cpu_relax();
    if (n < max)
        *pauses = n << 1;
    return n;
}

/* The library's one address hash (Fibonacci hashing): the top `bits` bits (1-63)
 * of the address times 2^64/phi, which mix all of its bits, so the words of one
 * object, a few bytes apart, land in different slots of a 2^bits table. */
static inline size_t wf_hash_address(const void *p, unsigned bits)
{
    return (size_t)(((uint64_t)(uintptr_t)p * UINT64_C(0x9E3779B97F4A7C15)) >> (64 - bits));
}

/* Under ASan a cached free object is poisoned (src/magazine.h, src/blocks.h), so a
 * use after free is still reported. */
#if defined(__SANITIZE_ADDRESS__)
#define WF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WF_ASAN 1
#endif
#endif
#ifdef WF_ASAN
#include <sanitizer/asan_interface.h>
#define WF_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define WF_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define WF_POISON(p, n) ((void)(p), (void)(n))
#define WF_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define WF_LIKELY(x) __builtin_expect(!!(x), 1)
#define WF_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* A helper with a constant flag argument, inlined into each caller so that every
 * call site gets its own copy specialised for that flag. */
#define WF_ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- cross-family internals -------------------------------------------------- */
/* Acquire `l` as a condition waiter that a notify_all woke together with the
 * others: without spinning on a held lock (it yields between tries, then sleeps on
 * the word). Returns 0. */
WF_HIDDEN int wf_lock_acquire_woken(weft_lock *l);

/* For a condition wait on an rlock: if the caller holds r, release it fully
 * (waking a sleeper, if any) and return the recursion count it had; else change
 * nothing and return 0. */
WF_HIDDEN uint32_t wf_rlock_release_all(weft_rlock *r);
/* The other half: the caller has just re-acquired r->lock; make it the holder
 * again with recursion count `count` (as returned by wf_rlock_release_all). */
WF_HIDDEN void wf_rlock_restore(weft_rlock *r, uint32_t count);

/* For the lock-order checker: how many read holds rw has now (in the word and in
 * the table, less the table's debts; a snapshot, 0 while it is write-held).
 * Implemented in src/rwlock.c. */
#ifdef WEFT_CHECKS
WF_HIDDEN int64_t wf_rwlock_read_holds(const weft_rwlock *rw);
#endif

/* Marks the calling thread as one weft must keep running (a pool worker: a task
 * that ended it would strand its future and shrink the pool): while set,
 * weft_thread_exit refuses with EPERM. Implemented in src/thread.c. */
WF_HIDDEN void wf_thread_set_pinned(bool pinned);

#endif
