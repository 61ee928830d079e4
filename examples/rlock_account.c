/* Why a lock needs to be reentrant: an account's transfer takes the account lock
 * and calls withdraw and deposit, which take it again. Four threads shuffle money
 * between two accounts guarded by one weft_rlock; no money appears or vanishes. */
#include <pthread.h>
#include <stdio.h>

#include "weft.h"

enum { THREADS = 4, TRANSFERS = 20000, START = 1000 };

static weft_rlock bank = WEFT_RLOCK_INIT;
static long balance[2] = {START, START};

static void deposit(int account, long amount)
{
    weft_rlock_acquire(&bank);
    balance[account] += amount;
    weft_rlock_release(&bank);
}

static int withdraw(int account, long amount)
{
    int ok = 0;
    weft_rlock_acquire(&bank);
    if (balance[account] >= amount) {
        balance[account] -= amount;
        ok = 1;
    }
    weft_rlock_release(&bank);
    return ok;
}

static void transfer(int from, long amount)
{
    weft_rlock_acquire(&bank); /* withdraw + deposit as one step */
    if (withdraw(from, amount))
        deposit(1 - from, amount);
    weft_rlock_release(&bank);
}

static void *teller(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < TRANSFERS; i++)
        transfer((int)((id + i) % 2), 1 + (id * 7 + i) % 50);
    return NULL;
}

int main(void)
{
    pthread_t th[THREADS];
    for (long i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, teller, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int refused = weft_rlock_release(&bank); /* we do not hold it */
    long total = balance[0] + balance[1];
    printf("balances %ld + %ld = %ld (expected %d); stray release: %s\n", balance[0], balance[1],
           total, 2 * START, refused == EPERM ? "EPERM" : "accepted?!");
    return total == 2 * START && refused == EPERM && !weft_rlock_locked(&bank) ? 0 : 1;
}
