/* A worker pool shut down by cancelling its blocked consumers. Four workers take jobs
 * from one queue; each waits with weft_wait_any for either a job or its own
 * cancellation token, a child of the pool's token. Cancelling one child retires one
 * worker (scaling the pool down) without touching the others; cancelling the pool's
 * token retires them all, whether they are busy or blocked on the empty queue. No
 * sentinel jobs, no shutdown of the queue, no timeout polling: a blocked worker wakes
 * the moment its token (or an ancestor) fires.
 * Exits non-zero if a job was lost or done twice, or a worker did not stop. */
#include <stdint.h>
#include <stdio.h>

#include "weft.h"

enum { WORKERS = 4, JOBS = 20000 };

static weft_queue *jobs;
static weft_cancel pool_token = WEFT_CANCEL_INIT; /* the pool's: retires everyone */

typedef struct worker {
    weft_thread thread;
    weft_cancel token; /* this worker's: a child of pool_token */
    long done;
    unsigned long long sum;
} worker;

static worker workers[WORKERS];

static void *work(void *arg)
{
    worker *w = arg;
    for (;;) {
        weft_source s[2] = {weft_source_queue_get(jobs), weft_source_cancel(&w->token)};
        int i = weft_wait_any(s, 2, WEFT_FOREVER);
        if (i == 1)
            return NULL; /* cancelled: this worker, or the whole pool */
        if (i != 0 || s[0].result != 0)
            return (void *)1; /* cannot happen: nobody shuts the queue down */
        w->sum += (uintptr_t)s[0].item;
        w->done++;
        weft_queue_task_done(jobs);
    }
}

static int join(worker *w)
{
    void *r = (void *)1;
    int rc = weft_thread_join(w->thread, WEFT_SEC(10), &r);
    weft_thread_release(w->thread);
    return rc != 0 || r != NULL;
}

int main(void)
{
    int failed = 0;
    if (weft_queue_create(&jobs, 64, WEFT_FIFO) != 0)
        return 1;
    for (int i = 0; i < WORKERS; i++) {
        if (weft_cancel_init_child(&workers[i].token, &pool_token) != 0 ||
            weft_thread_start(&workers[i].thread, work, &workers[i], NULL) != 0)
            return 1;
    }

    /* First half of the jobs with all four workers. */
    for (uintptr_t job = 1; job <= JOBS / 2; job++)
        failed |= weft_queue_put(jobs, (void *)job, WEFT_FOREVER) != 0;
    failed |= weft_queue_join(jobs, WEFT_FOREVER) != 0;

    /* Scale down: retire worker 0 alone; it is most likely blocked on the empty
     * queue, and its token's fire wakes it there. The others go on. */
    weft_cancel_fire(&workers[0].token);
    failed |= join(&workers[0]);
    printf("worker 0 retired after %ld jobs\n", workers[0].done);

    for (uintptr_t job = JOBS / 2 + 1; job <= JOBS; job++)
        failed |= weft_queue_put(jobs, (void *)job, WEFT_FOREVER) != 0;
    failed |= weft_queue_join(jobs, WEFT_FOREVER) != 0;

    /* Shut the pool down: one fire of the parent reaches every child. */
    weft_cancel_fire(&pool_token);
    long count = workers[0].done;
    unsigned long long sum = workers[0].sum;
    for (int i = 1; i < WORKERS; i++) {
        failed |= join(&workers[i]);
        printf("worker %d did %ld jobs\n", i, workers[i].done);
        count += workers[i].done;
        sum += workers[i].sum;
    }
    unsigned long long n = JOBS;
    printf("%ld jobs, sum %llu (expected %llu, sum %llu)\n", count, sum, n, n * (n + 1) / 2);
    failed |= count != JOBS || sum != n * (n + 1) / 2;
    failed |= !weft_queue_empty(jobs) || weft_queue_destroy(jobs) != 0;
    return failed;
}
