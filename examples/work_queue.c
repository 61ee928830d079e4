/* A work queue joined with task_done / join, as in the example of Python's queue
 * module: worker threads take tasks and mark each one done; the main thread puts all
 * the work, then join() blocks until every task put has been marked done, and only
 * then are the workers stopped (with a shutdown). Exits non-zero if join returned
 * before all the work was done, or a task was run twice or not at all. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "weft.h"

enum { WORKERS = 4, TASKS = 1000 };

static weft_queue *work;
static _Atomic int runs[TASKS]; /* how many times each task ran */
static _Atomic long finished;

static void *worker(void *arg)
{
    (void)arg;
    void *task;
    while (weft_queue_get(work, &task, WEFT_FOREVER) == 0) {
        uintptr_t id = (uintptr_t)task;
        /* "work": a little arithmetic, then record it */
        volatile unsigned x = (unsigned)id;
        for (int i = 0; i < 1000; i++)
            x = x * 1103515245u + 12345u;
        atomic_fetch_add(&runs[id], 1);
        atomic_fetch_add(&finished, 1);
        weft_queue_task_done(work);
    }
    return NULL;
}

int main(void)
{
    if (weft_queue_create(&work, 0, WEFT_FIFO) != 0) /* unbounded, as Queue() */
        return 1;
    pthread_t th[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&th[i], NULL, worker, NULL);

    for (uintptr_t id = 0; id < TASKS; id++)
        weft_queue_put(work, (void *)id, WEFT_FOREVER);
    printf("all %d tasks put; waiting for them\n", TASKS);
    int failed = weft_queue_join(work, WEFT_FOREVER) != 0;
    long done = atomic_load(&finished);
    printf("join returned: %ld tasks done\n", done);
    failed |= done != TASKS; /* join returns only after every task_done */

    weft_queue_shutdown(work, false); /* the workers' gets now fail: they return */
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < TASKS; i++)
        failed |= atomic_load(&runs[i]) != 1;
    failed |= weft_queue_task_done(work) != EINVAL; /* one more would be a bug */
    failed |= weft_queue_destroy(work) != 0;
    printf(failed ? "FAILED\n" : "ok\n");
    return failed;
}
