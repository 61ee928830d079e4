/* The classic racing counter: four threads each add to a shared total a million
 * times. Without the lock, increments are lost; with a weft_lock the total is exact. */
#include <pthread.h>
#include <stdio.h>

#include "weft.h"

enum { THREADS = 4, ROUNDS = 1000000 };

static long total;
static weft_lock total_lock = WEFT_LOCK_INIT;

static void *add(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        weft_lock_acquire(&total_lock);
        total++;
        weft_lock_release(&total_lock);
    }
    return NULL;
}

int main(void)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, add, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    printf("total = %ld (expected %ld)\n", total, (long)THREADS * ROUNDS);
    return total == (long)THREADS * ROUNDS ? 0 : 1;
}
