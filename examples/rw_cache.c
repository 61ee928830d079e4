/* A read-mostly cache: a table of prices that four threads look up all the time
 * and one thread refreshes now and then. Lookups share a weft_rwlock's read side,
 * so they run side by side; a refresh takes the write side, rebuilds the whole
 * table as one step, then downgrades to check its work while the lookups carry on
 * (no other refresh can come in between). Every lookup checks that the two entries
 * it reads belong to the same refresh: a reader never sees half a table. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "weft.h"

enum { LOOKUP_THREADS = 4, LOOKUPS = 200000, ENTRIES = 64, REFRESHES = 50 };

struct entry {
    long generation; /* the refresh that wrote it */
    long price;
};

static weft_rwlock cache_lock = WEFT_RWLOCK_INIT;
static struct entry cache[ENTRIES];
static long generation;

static long price_of(int key, long gen)
{
    return (key + 1) * 100 + gen;
}

/* Two lookups under one read hold: both must come from the same refresh. */
static void *lookups(void *arg)
{
    long id = (long)arg, torn = 0;
    for (int i = 0; i < LOOKUPS; i++) {
        int a = (int)((id * 31 + i) % ENTRIES), b = (int)((id * 17 + i * 7) % ENTRIES);
        weft_rwlock_read_acquire(&cache_lock);
        struct entry ea = cache[a], eb = cache[b];
        weft_rwlock_read_release(&cache_lock);
        if (ea.generation != eb.generation || ea.price != price_of(a, ea.generation) ||
            eb.price != price_of(b, eb.generation))
            torn++;
    }
    return (void *)torn;
}

static void *refresher(void *arg)
{
    (void)arg;
    long wrong = 0;
    for (int r = 0; r < REFRESHES; r++) {
        weft_rwlock_write_acquire(&cache_lock);
        long gen = ++generation;
        for (int k = 0; k < ENTRIES; k++)
            cache[k] = (struct entry){gen, price_of(k, gen)};
        weft_rwlock_downgrade(&cache_lock); /* readers back in; no writer can be */
        for (int k = 0; k < ENTRIES; k++)
            wrong += cache[k].generation != gen;
        weft_rwlock_read_release(&cache_lock);
        struct timespec pause = {0, 200000}; /* 0.2 ms: refreshes are rare */
        nanosleep(&pause, NULL);
    }
    return (void *)wrong;
}

int main(void)
{
    for (int k = 0; k < ENTRIES; k++)
        cache[k] = (struct entry){0, price_of(k, 0)};
    pthread_t readers[LOOKUP_THREADS], writer;
    for (long i = 0; i < LOOKUP_THREADS; i++)
        pthread_create(&readers[i], NULL, lookups, (void *)i);
    pthread_create(&writer, NULL, refresher, NULL);
    long torn = 0, wrong = 0;
    for (int i = 0; i < LOOKUP_THREADS; i++) {
        void *t;
        pthread_join(readers[i], &t);
        torn += (long)t;
    }
    void *w;
    pthread_join(writer, &w);
    wrong = (long)w;
    int stray = weft_rwlock_write_release(&cache_lock); /* nobody holds it */
    printf("%d lookups, %ld refreshes, %ld torn reads, %ld refresh checks wrong; stray "
           "release: %s\n",
           LOOKUP_THREADS * LOOKUPS, generation, torn, wrong,
           stray == EPERM ? "EPERM" : "accepted?!");
    return torn == 0 && wrong == 0 && generation == REFRESHES && stray == EPERM ? 0 : 1;
}
