/* The classic producer/consumer over a bounded buffer, with one lock and two
 * conditions (Python's Condition(lock) twice): producers wait on `not_full`,
 * consumers on `not_empty`; each side notifies the other one waiter at a time.
 * Three producers put 100 000 numbered items each, three consumers take them;
 * every item must arrive exactly once. Exits non-zero on any loss or duplicate. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

enum { CAPACITY = 8, PRODUCERS = 3, CONSUMERS = 3, ITEMS = 100000 };

static struct {
    weft_lock lock;
    weft_cond not_full, not_empty;
    long items[CAPACITY];
    int head, count;
    int producers_left; /* consumers stop once it is 0 and the buffer is empty */
} buf = {.lock = WEFT_LOCK_INIT, .not_full = WEFT_COND_INIT, .not_empty = WEFT_COND_INIT,
         .producers_left = PRODUCERS};

static unsigned char seen[PRODUCERS * ITEMS];

static bool has_room(void *arg)
{
    (void)arg;
    return buf.count < CAPACITY;
}

static void put(long item)
{
    weft_lock_acquire(&buf.lock);
    /* wait_for re-checks the predicate after every wakeup (Python's wait_for). */
    weft_cond_wait_for(&buf.not_full, &buf.lock, has_room, NULL, WEFT_FOREVER);
    buf.items[(buf.head + buf.count) % CAPACITY] = item;
    buf.count++;
    weft_cond_notify(&buf.not_empty, 1);
    weft_lock_release(&buf.lock);
}

/* Returns false once every producer is done and the buffer is drained. */
static bool get(long *item)
{
    weft_lock_acquire(&buf.lock);
    while (buf.count == 0 && buf.producers_left > 0)
        weft_cond_wait(&buf.not_empty, &buf.lock, WEFT_FOREVER);
    bool got = buf.count > 0;
    if (got) {
        *item = buf.items[buf.head];
        buf.head = (buf.head + 1) % CAPACITY;
        buf.count--;
        weft_cond_notify(&buf.not_full, 1);
    }
    weft_lock_release(&buf.lock);
    return got;
}

static void *producer(void *arg)
{
    long base = (long)(intptr_t)arg * ITEMS;
    for (long i = 0; i < ITEMS; i++)
        put(base + i);
    weft_lock_acquire(&buf.lock);
    if (--buf.producers_left == 0)
        weft_cond_notify_all(&buf.not_empty); /* wake the consumers to see the end */
    weft_lock_release(&buf.lock);
    return NULL;
}

static void *consumer(void *arg)
{
    long *taken = arg;
    long item;
    while (get(&item)) {
        if (item < 0 || item >= PRODUCERS * ITEMS || seen[item]++) {
            fprintf(stderr, "item %ld lost or duplicated\n", item);
            exit(1);
        }
        (*taken)++;
    }
    return NULL;
}

int main(void)
{
    pthread_t p[PRODUCERS], c[CONSUMERS];
    long taken[CONSUMERS] = {0};
    for (int i = 0; i < CONSUMERS; i++)
        pthread_create(&c[i], NULL, consumer, &taken[i]);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&p[i], NULL, producer, (void *)(intptr_t)i);
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(p[i], NULL);
    long total = 0;
    for (int i = 0; i < CONSUMERS; i++) {
        pthread_join(c[i], NULL);
        printf("consumer %d took %ld items\n", i, taken[i]);
        total += taken[i];
    }
    for (long i = 0; i < PRODUCERS * ITEMS; i++)
        if (seen[i] != 1) {
            fprintf(stderr, "item %ld arrived %d times\n", i, seen[i]);
            return 1;
        }
    printf("%ld items through a buffer of %d: each exactly once\n", total, CAPACITY);
    return total == PRODUCERS * ITEMS ? 0 : 1;
}
