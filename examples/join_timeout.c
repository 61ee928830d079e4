/* Join with a timeout: the first join gives up after 50 ms while the thread is
 * still busy (waiting for a lock the main thread holds); once the lock is let go,
 * a second join returns the thread's result. */
#include <errno.h>
#include <stdio.h>

#include "weft.h"

static weft_lock busy = WEFT_LOCK_INIT;

static void *wait_for_lock(void *arg)
{
    weft_lock_acquire(&busy);
    weft_lock_release(&busy);
    return arg;
}

int main(void)
{
    weft_lock_acquire(&busy);
    weft_thread th;
    if (weft_thread_start(&th, wait_for_lock, "finished", NULL) != 0)
        return 1;
    int64_t t0 = weft_now_ns();
    int r = weft_thread_join(th, WEFT_MS(50), NULL);
    double waited_ms = (double)(weft_now_ns() - t0) / 1e6;
    printf("join(50 ms): %s after %.1f ms, alive: %d\n", r == ETIMEDOUT ? "ETIMEDOUT" : "?",
           waited_ms, weft_thread_is_alive(th));
    if (r != ETIMEDOUT || waited_ms < 50 || !weft_thread_is_alive(th))
        return 1;
    weft_lock_release(&busy);
    void *result = NULL;
    r = weft_thread_join(th, WEFT_SEC(60), &result);
    printf("join(60 s): %d, result \"%s\"\n", r, r == 0 ? (char *)result : "");
    bool ended = !weft_thread_is_alive(th);
    weft_thread_release(th);
    return r == 0 && ended ? 0 : 1;
}
