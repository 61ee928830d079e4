/* The OS seam on Linux (src/os.h). */
#include "../os.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

int wf_os_cpu_count(void)
{
    static _Atomic int cpus; /* 0: not counted yet */
    /* relaxed: every thread computes the same value; a race only repeats the count. */
    int n = atomic_load_explicit(&cpus, memory_order_relaxed);
    if (n == 0) {
        cpu_set_t set;
        n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        if (n < 1)
            n = 1;
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    return n;
}

uint32_t wf_os_thread_id(void)
{
    return (uint32_t)gettid();
}

size_t wf_os_thread_name_max(void)
{
    return 15; /* 16 bytes with the NUL: prctl(2) PR_SET_NAME */
}

void wf_os_set_thread_name(const char *name)
{
    pthread_setname_np(pthread_self(), name);
}

bool wf_os_barrier_all(void)
{
    /* 0: not registered yet; 1: registered; -1: the kernel has no private
     * expedited membarrier (before 4.14, or filtered). */
    static _Atomic int state;
    /* relaxed: every thread reaches the same answer; registering twice is harmless. */
    int st = atomic_load_explicit(&state, memory_order_relaxed);
    if (st == 0) {
        st = syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 1 : -1;
        atomic_store_explicit(&state, st, memory_order_relaxed);
    }
    return st > 0 && syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}
