/* The classic producer/consumer: three producers put numbered jobs into one bounded
 * queue, three consumers take them and add them up. When every producer is done the
 * main thread shuts the queue down; consumers drain what is left and stop at the
 * ESHUTDOWN that follows (Python 3.13's Queue.shutdown), so no sentinel items and no
 * guessing how many each consumer should take. Exits non-zero if a job was lost or
 * taken twice. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "weft.h"

enum { PRODUCERS = 3, CONSUMERS = 3, JOBS_EACH = 100000, QUEUE_SIZE = 64 };

static weft_queue *jobs;

static void *produce(void *arg)
{
    uintptr_t first = (uintptr_t)arg * JOBS_EACH + 1;
    for (uintptr_t job = first; job < first + JOBS_EACH; job++)
        if (weft_queue_put(jobs, (void *)job, WEFT_FOREVER) != 0)
            return (void *)1; /* cannot happen: nobody shuts down while we produce */
    return NULL;
}

typedef struct {
    unsigned long long sum;
    long count;
} tally;

static void *consume(void *arg)
{
    tally *t = arg;
    void *job;
    int rc;
    while ((rc = weft_queue_get(jobs, &job, WEFT_FOREVER)) == 0) {
        t->sum += (uintptr_t)job;
        t->count++;
    }
    return rc == ESHUTDOWN ? NULL : (void *)1; /* the one way out is the shutdown */
}

int main(void)
{
    if (weft_queue_create(&jobs, QUEUE_SIZE, WEFT_FIFO) != 0)
        return 1;
    pthread_t producers[PRODUCERS], consumers[CONSUMERS];
    tally tallies[CONSUMERS] = {{0, 0}};
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&consumers[i], NULL, consume, &tallies[i]);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&producers[i], NULL, produce, (void *)(uintptr_t)i);

    int failed = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        void *r;
        pthread_join(producers[i], &r);
        failed |= r != NULL;
    }
    weft_queue_shutdown(jobs, false); /* no more jobs: consumers finish the rest */

    unsigned long long sum = 0;
    long count = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        void *r;
        pthread_join(consumers[i], &r);
        failed |= r != NULL;
        printf("consumer %d took %ld jobs\n", i, tallies[i].count);
        sum += tallies[i].sum;
        count += tallies[i].count;
    }
    unsigned long long n = (unsigned long long)PRODUCERS * JOBS_EACH;
    printf("%ld jobs, sum %llu (expected %llu jobs, sum %llu)\n", count, sum, n, n * (n + 1) / 2);
    failed |= count != (long)n || sum != n * (n + 1) / 2;
    failed |= weft_queue_destroy(jobs) != 0;
    return failed;
}
