/* A CPU-bound sum on every core: C has no GIL, so the pool's workers really run
 * at once. The sum of a hash of 0 .. N-1 is cut into chunks, each chunk summed by
 * a task (weft_pool_map), and the partial sums added in order. The result must
 * equal the serial sum exactly; the speedup printed approaches the number of cores,
 * and the process's CPU time approaches that many times the wall time. */
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "weft.h"

enum { CHUNKS = 64 };
#define N (UINT64_C(1) << 25)

/* splitmix64's finalizer: a few ns of pure arithmetic per element. */
static inline uint64_t mix(uint64_t x)
{
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

static uint64_t sum_range(uint64_t from, uint64_t to)
{
    uint64_t s = 0;
    for (uint64_t i = from; i < to; i++)
        s += mix(i);
    return s;
}

struct chunk {
    uint64_t from, to, sum;
};

static int sum_chunk(void *arg, void **result)
{
    struct chunk *c = arg;
    c->sum = sum_range(c->from, c->to);
    *result = c;
    return 0;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(void)
{
    int64_t t0 = weft_now_ns();
    uint64_t serial = sum_range(0, N);
    double serial_s = (double)(weft_now_ns() - t0) / 1e9;

    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
    weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
    opts.max_workers = (size_t)cpus; /* CPU-bound: one worker per core */
    weft_pool *pool;
    if (weft_pool_create(&pool, &opts) != 0)
        return 1;
    static struct chunk chunks[CHUNKS];
    void *args[CHUNKS], *results[CHUNKS];
    for (int i = 0; i < CHUNKS; i++) {
        chunks[i] = (struct chunk){N / CHUNKS * (uint64_t)i, N / CHUNKS * (uint64_t)(i + 1), 0};
        args[i] = &chunks[i];
    }
    double cpu0 = cpu_seconds();
    t0 = weft_now_ns();
    int r = weft_pool_map(pool, sum_chunk, args, CHUNKS, results, WEFT_FOREVER);
    uint64_t parallel = 0;
    for (int i = 0; r == 0 && i < CHUNKS; i++)
        parallel += ((struct chunk *)results[i])->sum;
    double parallel_s = (double)(weft_now_ns() - t0) / 1e9;
    double cpu_s = cpu_seconds() - cpu0;
    weft_pool_destroy(pool);

    printf("serial:   %016llx in %.3f s\n", (unsigned long long)serial, serial_s);
    printf("parallel: %016llx in %.3f s on %d workers: %.2fx, %.2f cores busy\n",
           (unsigned long long)parallel, parallel_s, cpus, serial_s / parallel_s,
           cpu_s / parallel_s);
    return r == 0 && parallel == serial ? 0 : 1;
}
