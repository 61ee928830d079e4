/* Workers wait at the starting line until the main thread has prepared their
 * work and fires a start event; one more event tells the main thread the last
 * worker is done. */
#include <pthread.h>
#include <stdio.h>

#include "weft.h"

enum { WORKERS = 6, ITEMS = 1000 };

static weft_event start = WEFT_EVENT_INIT;
static weft_event all_done = WEFT_EVENT_INIT;
static long work[ITEMS]; /* written before start is set; read-only after */
static long sums[WORKERS];
static _Atomic int remaining = WORKERS;

static void *worker(void *arg)
{
    long id = (long)arg;
    if (weft_event_wait(&start, WEFT_SEC(30)) != 0)
        return NULL; /* never started: main reports it */
    for (int i = (int)id; i < ITEMS; i += WORKERS)
        sums[id] += work[i];
    if (atomic_fetch_sub(&remaining, 1) == 1)
        weft_event_set(&all_done);
    return NULL;
}

int main(void)
{
    pthread_t th[WORKERS];
    for (long i = 0; i < WORKERS; i++)
        pthread_create(&th[i], NULL, worker, (void *)i);

    for (int i = 0; i < ITEMS; i++)
        work[i] = i + 1;
    printf("started: %s\n", weft_event_is_set(&start) ? "yes" : "not yet");
    weft_event_set(&start); /* ready, steady, go */

    int r = weft_event_wait(&all_done, WEFT_SEC(30));
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    long total = 0;
    for (int i = 0; i < WORKERS; i++)
        total += sums[i];
    printf("all done: %s, total %ld (expected %ld)\n", r == 0 ? "yes" : "timed out", total,
           (long)ITEMS * (ITEMS + 1) / 2);
    return r == 0 && total == (long)ITEMS * (ITEMS + 1) / 2 ? 0 : 1;
}
