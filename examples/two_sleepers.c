/* Two threads sleep 2 s and 1 s at the same time: both are done in about 2 s in
 * all, not 3, because they sleep in parallel. */
#include <stdio.h>
#include <time.h>

#include "weft.h"

static void *sleeper(void *arg)
{
    long seconds = (long)(intptr_t)arg;
    struct timespec ts = {seconds, 0};
    while (nanosleep(&ts, &ts) != 0)
        ;
    printf("slept %ld s\n", seconds);
    return arg;
}

int main(void)
{
    int64_t t0 = weft_now_ns();
    weft_thread a, b;
    weft_thread_opts opts_a = {.name = "sleeper-2s"}, opts_b = {.name = "sleeper-1s"};
    if (weft_thread_start(&a, sleeper, (void *)(intptr_t)2, &opts_a) != 0 ||
        weft_thread_start(&b, sleeper, (void *)(intptr_t)1, &opts_b) != 0)
        return 1;
    void *ra = NULL, *rb = NULL;
    int ok = weft_thread_join(a, WEFT_FOREVER, &ra) == 0 &&
             weft_thread_join(b, WEFT_FOREVER, &rb) == 0;
    double elapsed = (double)(weft_now_ns() - t0) / 1e9;
    printf("both done in %.2f s (one after the other would take 3 s)\n", elapsed);
    weft_thread_release(a);
    weft_thread_release(b);
    /* Each slept its full time; no timing bound above that (machines vary). */
    return ok && (intptr_t)ra == 2 && (intptr_t)rb == 1 && elapsed >= 2.0 ? 0 : 1;
}
