/* The classic connection pool: ten clients share three "connections". A bounded
 * semaphore lets at most three in at a time, and catches a stray release. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "weft.h"

enum { CLIENTS = 10, CONNECTIONS = 3, REQUESTS = 20 };

static weft_sem pool = WEFT_SEM_BOUNDED_INIT(CONNECTIONS);
static _Atomic int open_now, most_open;
static _Atomic int served;

static void *client(void *arg)
{
    (void)arg;
    for (int i = 0; i < REQUESTS; i++) {
        weft_sem_acquire(&pool); /* wait for a free connection */
        int now = atomic_fetch_add(&open_now, 1) + 1;
        int seen = atomic_load(&most_open);
        while (now > seen && !atomic_compare_exchange_weak(&most_open, &seen, now))
            ;
        nanosleep(&(struct timespec){0, 200000}, NULL); /* talk to the server */
        atomic_fetch_sub(&open_now, 1);
        atomic_fetch_add(&served, 1);
        weft_sem_release(&pool, 1); /* hand the connection back */
    }
    return NULL;
}

int main(void)
{
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);

    /* One release too many: a bounded semaphore refuses it. */
    int stray = weft_sem_release(&pool, 1);
    printf("served %d requests, at most %d connections open at once (limit %d); "
           "stray release: %s\n",
           atomic_load(&served), atomic_load(&most_open), CONNECTIONS,
           stray == EOVERFLOW ? "EOVERFLOW" : "accepted?!");
    return atomic_load(&served) == CLIENTS * REQUESTS && atomic_load(&most_open) <= CONNECTIONS &&
                   stray == EOVERFLOW && weft_sem_value(&pool) == CONNECTIONS
               ? 0
               : 1;
}
