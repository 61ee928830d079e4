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

/* Fast paths are C99 inline definitions: the compiler inlines them into the
 * caller, and the library holds the one external definition of each (for C++,
 * function pointers, and -O0 builds). Every C declaration of such a function must
 * say `inline` (one that does not would make each includer emit an external
 * copy), so their prototypes use WEFT_INLINE too. */
#ifdef __cplusplus
#define WEFT_INLINE WEFT_API
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

/* An absolute CLOCK_MONOTONIC instant in nanoseconds; INT64_MAX is "never". */
typedef struct weft_deadline {
    int64_t ns;
} weft_deadline;

/* The deadline that never passes. A compound literal in C; C++ has none
 * (-pedantic rejects it) and gets the equivalent list-initialised temporary. */
#ifdef __cplusplus
#define WEFT_DEADLINE_NEVER (weft_deadline{INT64_MAX})
#else
#define WEFT_DEADLINE_NEVER ((weft_deadline){INT64_MAX})
#endif

/* Now on CLOCK_MONOTONIC, in nanoseconds. Never blocks. */
WEFT_API int64_t weft_now_ns(void);

/* The deadline `timeout_ns` from now: negative -> never, 0 -> now (poll).
 * Saturates instead of overflowing. Never blocks. */
WEFT_API weft_deadline weft_deadline_in(int64_t timeout_ns);

/* Nanoseconds left before `d` (0 once it has passed, INT64_MAX for never). Never
 * blocks. */
WEFT_API int64_t weft_deadline_remaining(weft_deadline d);

/* True once `d` has passed. Never true for WEFT_DEADLINE_NEVER. */
WEFT_API bool weft_deadline_passed(weft_deadline d);

WEFT_END_DECLS

#endif
