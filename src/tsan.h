/* tsan.h: ThreadSanitizer annotations for the plain library.
 *
 * A user program built with -fsanitize=thread sees weft's inline fast paths (they
 * are compiled into it), but not the handoffs inside the library, which is built
 * without instrumentation: a slow-path acquire, a queue item moving through
 * liburcu, a future finished by a worker. The library therefore names those edges
 * to TSan itself, through TSan's public annotation entry points
 * (sanitizer/tsan_interface.h), declared weak here: in a process without the TSan
 * runtime they resolve to NULL and each annotation is one predictable branch on a
 * slow path; in a process with it (the executable links the runtime, whose symbols
 * the library's weak references bind to at load time) they report the edge.
 *
 *   wf_tsan_release(addr)  before the store that publishes a handoff on addr
 *   wf_tsan_acquire(addr)  after the load that observed it
 *
 * When the library itself is built with TSan its atomics are instrumented and
 * these are redundant but harmless (the same edge, told twice). */
#ifndef WF_TSAN_H
#define WF_TSAN_H

#include "internal.h"

void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));

static inline void wf_tsan_acquire(const void *addr)
{
    if (WF_UNLIKELY(__tsan_acquire != NULL))
        __tsan_acquire((void *)(uintptr_t)addr);
}

static inline void wf_tsan_release(const void *addr)
{
    if (WF_UNLIKELY(__tsan_release != NULL))
        __tsan_release((void *)(uintptr_t)addr);
}

#endif
