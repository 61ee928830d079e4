/* weft/common.h: what every family shares: the export macro, time and deadlines.
 *
 * Conventions (see README):
 *  - Return codes are errno values returned directly, never set in errno.
 *  - Every blocking call takes `int64_t timeout_ns`: negative (WEFT_FOREVER) waits
 *    forever, 0 never blocks, > 0 is relative. Inside it becomes one absolute
 *    CLOCK_MONOTONIC deadline, so spurious wakeups never stretch a wait and
 *    wall-clock jumps never shorten one.
 *  - Fast paths are inline in the headers (C99 `inline`, external definitions in the
 *    library); C++ callers link to the library's copies of the same functions.
 */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
/* By its path from the include directory: in the build tree this generated file
 * is not beside the others. */
#include "weft/config.h"
#ifndef __cplusplus
#include <stdatomic.h>
#endif

#ifndef ESHUTDOWN
#define ESHUTDOWN 108
#endif

/* Marks the exported symbols; everything else in the library is hidden. */
#define WEFT_API __attribute__((visibility("default")))

#ifdef __cplusplus
#define WEFT_BEGIN_DECLS extern "C" {
#define WEFT_END_DECLS }
/* C++ sees the same layout with plain integers; it only passes pointers to the
 * library's out-of-line copies of the fast paths. */
#define WEFT_ATOMIC(T) T
#else
#define WEFT_BEGIN_DECLS
#define WEFT_END_DECLS
#define WEFT_ATOMIC(T) _Atomic T
#endif

/* WEFT__TSAN_MUTEX: this translation unit is a user's, built with ThreadSanitizer
 * (gcc's __SANITIZE_THREAD__, clang's __has_feature): the inline fast paths of the
 * locks then announce each acquire and release to TSan as a mutex operation (its
 * public __tsan_mutex_* annotations), so its lock-order detector
 * (detect_deadlocks=1) and its reports ("mutex M held") know weft's locks as they
 * know pthread's. Off inside the library itself, whose own locks are bookkeeping
 * (see README, "Under ThreadSanitizer and AddressSanitizer"). Without TSan the
 * macros below are empty and the fast paths are exactly what they were. */
#if defined(__SANITIZE_THREAD__)
#define WEFT__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#endif
#endif
/* A translation unit that defines WEFT_TSAN_NO_MUTEX before including weft keeps
 * its locks plain atomics to TSan (still race-free to it, but unknown to its
 * lock-order detector): for code that releases a weft_lock from a thread other
 * than the one that took it, which TSan reports as a mutex misuse ("unlock of an
 * unlocked mutex (or by a wrong thread)"). */
#if defined(WEFT__TSAN) && !defined(WEFT_BUILDING) && !defined(__cplusplus) && \
    !defined(WEFT_TSAN_NO_MUTEX)
#define WEFT__TSAN_MUTEX 1
#endif

#ifdef WEFT__TSAN_MUTEX
/* TSan's own declarations (sanitizer/tsan_interface.h), and its flag values. */
void __tsan_mutex_pre_lock(void *addr, unsigned flags);
void __tsan_mutex_post_lock(void *addr, unsigned flags, int recursion);
int __tsan_mutex_pre_unlock(void *addr, unsigned flags);
void __tsan_mutex_post_unlock(void *addr, unsigned flags);
#define WEFT__TSAN_READ_LOCK (1u << 3)
#define WEFT__TSAN_TRY_LOCK (1u << 4)
#define WEFT__TSAN_TRY_LOCK_FAILED (1u << 5)
/* A timed acquire is a try to the detector, as pthread_mutex_timedlock is: it
 * cannot deadlock, so it adds no edge to the lock-order graph. */
#define WEFT__TSAN_TIMED(d) ((d).ns == INT64_MAX ? 0u : WEFT__TSAN_TRY_LOCK)
#define WEFT__TSAN_PRE_LOCK(m, flags) __tsan_mutex_pre_lock((void *)(m), (flags))
#define WEFT__TSAN_POST_LOCK(m, flags, failed) \
    __tsan_mutex_post_lock((void *)(m), (flags) | ((failed) ? WEFT__TSAN_TRY_LOCK_FAILED : 0u), 0)
#define WEFT__TSAN_PRE_UNLOCK(m, flags) ((void)__tsan_mutex_pre_unlock((void *)(m), (flags)))
#define WEFT__TSAN_POST_UNLOCK(m, flags) __tsan_mutex_post_unlock((void *)(m), (flags))
/* A slow path called between a pre and a post annotation: TSan ignores the
 * synchronization inside such a window (it takes it for the mutex's own
 * implementation), but a slow path sleeps and wakes through state other threads
 * share (the portable backend's parking lot), whose edges must stay visible. The
 * divert annotations reopen the window for the call. */
void __tsan_mutex_pre_divert(void *addr, unsigned flags);
void __tsan_mutex_post_divert(void *addr, unsigned flags);
/* External linkage (a static function may not be used by the inline fast paths,
 * which are not static: gcc rejects it); the library holds the external copy. */
WEFT_API inline __attribute__((always_inline)) int weft__tsan_divert_end(void *m, int r)
{
    __tsan_mutex_post_divert(m, 0);
    return r;
}
#define WEFT__TSAN_SLOW(m, call) \
    (__tsan_mutex_pre_divert((void *)(m), 0), weft__tsan_divert_end((void *)(m), (call)))
#else
#define WEFT__TSAN_PRE_LOCK(m, flags) ((void)0)
#define WEFT__TSAN_POST_LOCK(m, flags, failed) ((void)0)
#define WEFT__TSAN_PRE_UNLOCK(m, flags) ((void)0)
#define WEFT__TSAN_POST_UNLOCK(m, flags) ((void)0)
#define WEFT__TSAN_SLOW(m, call) (call)
#endif

/* Fast paths are C99 inline definitions: the compiler inlines them into the
 * caller, and the library holds the one external definition of each (for C++,
 * function pointers, and -O0 builds). Every C declaration of such a function must
 * say `inline` (one that does not would make each includer emit an external
 * copy), so their prototypes use WEFT_INLINE too. */
#ifdef __cplusplus
#define WEFT_INLINE WEFT_API
#elif defined(WEFT__TSAN_MUTEX)
/* Under TSan the user's copies must run, not the library's unannotated ones,
 * whatever the optimisation level: always inlined. */
#define WEFT_HAVE_INLINE 1
#define WEFT_INLINE WEFT_API inline __attribute__((always_inline))
#else
#define WEFT_HAVE_INLINE 1
#define WEFT_INLINE WEFT_API inline
#endif

WEFT_BEGIN_DECLS

/* WEFT__I64(x): x as an int64_t; C++ gets a static_cast, which -Wold-style-cast
 * accepts. */
#ifdef __cplusplus
#define WEFT__I64(x) static_cast<int64_t>(x)
#else
#define WEFT__I64(x) ((int64_t)(x))
#endif

/* Timeouts in nanoseconds, as int64_t (WEFT_SEC(10) does not overflow an int):
 * WEFT_FOREVER waits without limit; WEFT_MS, WEFT_SEC and WEFT_US convert. */
#define WEFT_FOREVER WEFT__I64(-1)
#define WEFT_MS(x) (WEFT__I64(x) * 1000000)
#define WEFT_SEC(x) (WEFT__I64(x) * 1000000000)
#define WEFT_US(x) (WEFT__I64(x) * 1000)

struct weft_cancel;

/* When a blocking call gives up: an absolute CLOCK_MONOTONIC instant in nanoseconds
 * (INT64_MAX is "never") and, optionally, a cancellation token (weft/cancel.h) that
 * ends the wait early when it fires. Every `_until` call of every family takes one,
 * so every blocking call is cancellable: it then returns ECANCELED, having consumed
 * nothing. A deadline without a token (cancel NULL, as weft_deadline_in makes) costs
 * what a plain timeout costs. Build one with weft_deadline_in, weft_deadline_at or
 * WEFT_DEADLINE_NEVER, and add a token with weft_deadline_with_cancel. */
typedef struct weft_deadline {
    int64_t ns;
    const struct weft_cancel *cancel; /* NULL: no token */
} weft_deadline;

/* The deadline that never passes. A compound literal in C; C++ has none
 * (-pedantic rejects it) and gets the equivalent list-initialised temporary. */
#ifdef __cplusplus
#define WEFT_DEADLINE_NEVER (weft_deadline{INT64_MAX, nullptr})
#else
#define WEFT_DEADLINE_NEVER ((weft_deadline){INT64_MAX, NULL})
#endif

/* Now on CLOCK_MONOTONIC, in nanoseconds. Never blocks. */
WEFT_API int64_t weft_now_ns(void);

/* The deadline `timeout_ns` from now: negative -> never, 0 -> now (poll).
 * Saturates instead of overflowing. Never blocks. */
WEFT_API weft_deadline weft_deadline_in(int64_t timeout_ns);

/* The deadline at the absolute CLOCK_MONOTONIC instant `ns` (INT64_MAX: never), with
 * no token. Never blocks. */
WEFT_API weft_deadline weft_deadline_at(int64_t ns);

/* `d` with `cancel` as its token (NULL removes the token). The token must stay
 * alive for as long as a call uses the deadline. Never blocks. */
WEFT_API weft_deadline weft_deadline_with_cancel(weft_deadline d, const struct weft_cancel *cancel);

/* Nanoseconds left before `d` (0 once it has passed or its token has fired,
 * INT64_MAX for never). Never blocks. */
WEFT_API int64_t weft_deadline_remaining(weft_deadline d);

/* True once `d` has passed or its token (or an ancestor of it) has fired: the
 * moment a waiting call gives up. Never true for WEFT_DEADLINE_NEVER. */
WEFT_API bool weft_deadline_passed(weft_deadline d);

WEFT_END_DECLS

#endif
