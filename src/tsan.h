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
 * these are redundant but harmless (the same edge, told twice).
 *
 * Bookkeeping: weft's own shared state (the thread registry, the timer service,
 * the pool's worker lists) is guarded by internal locks that every thread takes at
 * start or exit. To TSan each such lock is an edge from whoever held it last, so
 * one thread's exit would "happen before" the next one's start and hide the races
 * between them. Such a critical section runs between
 *
 *   wf_tsan_ignore_begin()  before taking the internal lock
 *   wf_tsan_ignore_end()    after releasing it
 *
 * in which TSan neither records the calling thread's synchronisation nor checks
 * its memory accesses (AnnotateIgnoreSyncBegin and __tsan_ignore_thread_begin;
 * both nest). An edge the user is owed from inside such a section (a thread's
 * end, seen by its joiner) is told with the section briefly reopened:
 * wf_tsan_ignore_end(); the publishing store or wf_tsan_release; wf_tsan_ignore_begin().
 *
 * Allocation caches: an object freed into a per-thread cache and handed to
 * another thread through a shared depot would be ordered by the depot's lock
 * (hiding races between the two threads), and its memory would keep the
 * annotations' clocks of its previous life. Under TSan (wf_tsan_present) the
 * caches are bypassed: malloc and free, whose interceptors reset the block's
 * history as reuse needs (src/magazine.c).
 *
 * Mutexes: a user lock that the library releases and re-takes on the user's
 * behalf (a condition wait) is told as TSan's interceptors tell pthread_cond_wait
 * (wf_tsan_mutex_unlock before, wf_tsan_mutex_lock after), matching what the
 * user's own TSan-built fast paths announce (weft/common.h, WEFT__TSAN_MUTEX). */
#ifndef WF_TSAN_H
#define WF_TSAN_H

#include "internal.h"

#include <stdlib.h>

void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));
void AnnotateIgnoreSyncBegin(const char *file, int line) __attribute__((weak));
void AnnotateIgnoreSyncEnd(const char *file, int line) __attribute__((weak));
void __tsan_ignore_thread_begin(void) __attribute__((weak));
void __tsan_ignore_thread_end(void) __attribute__((weak));
void __tsan_mutex_pre_lock(void *addr, unsigned flags) __attribute__((weak));
void __tsan_mutex_post_lock(void *addr, unsigned flags, int recursion) __attribute__((weak));
int __tsan_mutex_pre_unlock(void *addr, unsigned flags) __attribute__((weak));
void __tsan_mutex_post_unlock(void *addr, unsigned flags) __attribute__((weak));

/* Whether the process runs under TSan (its runtime is loaded): decided once, at
 * load time, so a caller may pick another strategy for the whole run. */
static inline bool wf_tsan_present(void)
{
    return __tsan_acquire != NULL;
}

/* Each tests the one symbol of wf_tsan_present (the runtime has them all), so that
 * a run of annotations costs one load of its address when TSan is absent. */
static inline void wf_tsan_acquire(const void *addr)
{
    if (WF_UNLIKELY(wf_tsan_present()))
        __tsan_acquire((void *)(uintptr_t)addr);
}

static inline void wf_tsan_release(const void *addr)
{
    if (WF_UNLIKELY(wf_tsan_present()))
        __tsan_release((void *)(uintptr_t)addr);
}

static inline void wf_tsan_ignore_begin(void)
{
    if (WF_UNLIKELY(wf_tsan_present())) {
        AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
        __tsan_ignore_thread_begin();
    }
}

static inline void wf_tsan_ignore_end(void)
{
    if (WF_UNLIKELY(wf_tsan_present())) {
        __tsan_ignore_thread_end();
        AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
    }
}

/* The object caches' allocation while TSan runs (they are bypassed then:
 * src/magazine.c says why). The malloc and the free are the library's bookkeeping:
 * its objects' memory is never the user's, and a put's node, say, is freed by a
 * get that acquired the item, not every write the put made to the node. So TSan
 * neither checks the free against earlier accesses nor records the allocation as
 * a write; both still reset the block's history and drop its annotations' clocks.
 * `align` divides `size`. */
static inline void *wf_tsan_alloc(size_t align, size_t size)
{
    wf_tsan_ignore_begin();
    void *obj = aligned_alloc(align, size);
    wf_tsan_ignore_end();
    return obj;
}

static inline void wf_tsan_free(void *obj)
{
    wf_tsan_ignore_begin();
    free(obj);
    wf_tsan_ignore_end();
}

/* The user's lock m, released (and later re-taken) by the library on the user's
 * behalf. Blocking re-take: a lock-order edge, as pthread_cond_wait's. */
static inline void wf_tsan_mutex_unlock(const void *m)
{
    if (WF_UNLIKELY(__tsan_mutex_pre_unlock != NULL)) {
        __tsan_mutex_pre_unlock((void *)(uintptr_t)m, 0);
        __tsan_mutex_post_unlock((void *)(uintptr_t)m, 0);
    }
}

static inline void wf_tsan_mutex_lock(const void *m)
{
    if (WF_UNLIKELY(__tsan_mutex_pre_lock != NULL)) {
        __tsan_mutex_pre_lock((void *)(uintptr_t)m, 0);
        __tsan_mutex_post_lock((void *)(uintptr_t)m, 0, 0);
    }
}

#endif
