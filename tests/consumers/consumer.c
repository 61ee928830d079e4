/* A program that uses weft as an outside project would: through the installed
 * headers and library (pkg-config, CMake) or as a meson subproject. scripts/test
 * builds it each way and runs it; it exits 0 when every call did its job. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft.h>

static weft_lock total_lock = WEFT_LOCK_INIT;
static long total;

static int square(void *arg, void **result)
{
    uintptr_t x = (uintptr_t)arg;
    *result = (void *)(x * x);
    weft_lock_acquire(&total_lock);
    total += (long)x;
    weft_lock_release(&total_lock);
    return 0;
}

int main(void)
{
    weft_pool *pool;
    weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
    opts.max_workers = 2;
    if (weft_pool_create(&pool, &opts) != 0)
        return 1;
    void *args[8], *results[8];
    for (uintptr_t i = 0; i < 8; i++)
        args[i] = (void *)i;
    if (weft_pool_map(pool, square, args, 8, results, WEFT_SEC(30)) != 0)
        return 2;
    for (uintptr_t i = 0; i < 8; i++)
        if ((uintptr_t)results[i] != i * i)
            return 3;
    if (weft_pool_destroy(pool) != 0 || total != 28)
        return 4;

    weft_queue *q; /* unbounded: the liburcu-backed queue, so liburcu must link */
    void *item = NULL;
    if (weft_queue_create(&q, 0, WEFT_FIFO) != 0 || weft_queue_put(q, &total, 0) != 0 ||
        weft_queue_get(q, &item, WEFT_MS(100)) != 0 || item != &total ||
        weft_queue_destroy(q) != 0)
        return 5;

    /* The headers and the library it runs with are the same weft. */
    if (strcmp(weft_version(), WEFT_VERSION) != 0)
        return 6;
    printf("consumer ok: weft %s, %s backend\n", weft_version(), weft_backend());
    return 0;
}
