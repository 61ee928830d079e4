/* The OS seam on POSIX alone (src/os.h): no Linux or glibc-only call. */
#include "../os.h"

#include <unistd.h>

int wf_os_cpu_count(void)
{
    static _Atomic int cpus; /* 0: not counted yet */
    /* relaxed: every thread computes the same value; a race only repeats the count. */
    int n = atomic_load_explicit(&cpus, memory_order_relaxed);
    if (n == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        n = online >= 1 && online <= INT_MAX ? (int)online : 1;
        atomic_store_explicit(&cpus, n, memory_order_relaxed);
    }
    return n;
}

uint32_t wf_os_thread_id(void)
{
    /* A number per thread, from a process-wide counter (POSIX has no thread id
     * that is an integer); 0 is never given out. */
    static _Atomic uint32_t last;
    static _Thread_local uint32_t mine;
    if (mine == 0) {
        /* relaxed: uniqueness needs only the atomicity of the increment. */
        uint32_t id;
        do
            id = atomic_fetch_add_explicit(&last, 1, memory_order_relaxed) + 1;
        while (id == 0);
        mine = id;
    }
    return mine;
}

size_t wf_os_thread_name_max(void)
{
    return 0; /* POSIX names no thread-naming call */
}

void wf_os_set_thread_name(const char *name)
{
    (void)name;
}

bool wf_os_barrier_all(void)
{
    return false; /* POSIX has no process-wide barrier */
}
