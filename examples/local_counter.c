/* A per-thread counter with weft_local: each thread counts in its own block with
 * no lock at all; when a thread ends, the block's destructor adds its count to the
 * total (under a lock), so once the threads are joined the total is exact. */
#include <stdio.h>

#include "weft.h"

enum { THREADS = 4, ROUNDS = 1000000 };

static weft_local counter;
static weft_lock total_lock = WEFT_LOCK_INIT;
static long total;

static void fold_into_total(void *block)
{
    weft_lock_acquire(&total_lock);
    total += *(long *)block;
    weft_lock_release(&total_lock);
}

static void *count(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++)
        ++*(long *)weft_local_get(counter);
    return NULL;
}

int main(void)
{
    if (weft_local_create(&counter, sizeof(long), NULL, fold_into_total) != 0)
        return 1;
    weft_thread th[THREADS];
    for (int i = 0; i < THREADS; i++)
        if (weft_thread_start(&th[i], count, NULL, NULL) != 0)
            return 1;
    for (int i = 0; i < THREADS; i++) {
        weft_thread_join(th[i], WEFT_FOREVER, NULL); /* its block is folded in by now */
        weft_thread_release(th[i]);
    }
    weft_lock_acquire(&total_lock);
    long seen = total;
    weft_lock_release(&total_lock);
    printf("total = %ld (expected %ld)\n", seen, (long)THREADS * ROUNDS);
    weft_local_delete(counter);
    return seen == (long)THREADS * ROUNDS ? 0 : 1;
}
