/* A daemon thread does not hold up exit: weft_thread_join_all (what Python does at
 * interpreter exit) waits for the worker, not for the daemon that never ends. */
#include <stdio.h>
#include <time.h>

#include "weft.h"

static void *heartbeat(void *arg)
{
    (void)arg;
    for (;;) { /* forever: only process exit ends it */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void *worker(void *arg)
{
    long *total = arg;
    for (long i = 1; i <= 1000; i++)
        *total += i;
    return NULL;
}

int main(void)
{
    static long total;
    weft_thread daemon, work;
    weft_thread_opts daemon_opts = {.name = "heartbeat", .daemon = true};
    if (weft_thread_start(&daemon, heartbeat, NULL, &daemon_opts) != 0 ||
        weft_thread_start(&work, worker, &total, NULL) != 0)
        return 1;
    weft_thread_release(work); /* not joined by hand: join_all covers it */
    if (weft_thread_join_all(WEFT_FOREVER) != 0)
        return 1;
    printf("worker done (total %ld); daemon still alive: %s; exiting anyway\n", total,
           weft_thread_is_alive(daemon) ? "yes" : "no");
    /* join_all made the worker's writes visible (it waits on the thread's end). */
    return total == 500500 && weft_thread_is_alive(daemon) ? 0 : 1;
}
