/* os.h: the OS seam beside the wait layer. What a family needs of the operating
 * system beyond pthreads lives behind these calls, one file per backend
 * (src/linux/os.c, src/portable/os.c), so the portable backend includes no Linux
 * or glibc-only header. */
#ifndef WF_OS_H
#define WF_OS_H

#include "internal.h"

/* The CPUs this process may run on (its affinity mask where the OS has one),
 * counted once per process; at least 1. Never blocks. */
WF_HIDDEN int wf_os_cpu_count(void);

/* The calling thread's id as the OS names it (Linux: the kernel tid; portable: a
 * number unique among the process's live threads, never 0). */
WF_HIDDEN uint32_t wf_os_thread_id(void);

/* The longest thread name the OS keeps, in bytes without the NUL (0: none). */
WF_HIDDEN size_t wf_os_thread_name_max(void);

/* Gives the calling thread `name` (already cut to wf_os_thread_name_max bytes) as
 * its OS-visible name; does nothing where the OS has no such name. */
WF_HIDDEN void wf_os_set_thread_name(const char *name);

/* Makes every CPU now running a thread of this process pass a full memory barrier
 * before this returns (Linux: membarrier(2), private expedited): the heavy side of
 * an asymmetric fence, whose light side then needs only a compiler barrier.
 * Returns false, having done nothing, where the OS has no such call. Costs a few
 * microseconds (an interrupt to each such CPU); never blocks otherwise. */
WF_HIDDEN bool wf_os_barrier_all(void);

#endif
