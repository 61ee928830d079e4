/* Lazy initialization: many threads need a configuration that is expensive to
 * build; the first to ask builds it, the rest wait for it, nobody builds it twice. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "weft.h"

enum { THREADS = 8 };

static weft_once config_once = WEFT_ONCE_INIT;
static struct {
    char name[32];
    int workers;
} config;
static _Atomic int builds;

static void build_config(void *arg)
{
    (void)arg;
    atomic_fetch_add(&builds, 1);
    nanosleep(&(struct timespec){0, 20000000}, NULL); /* "read a file" */
    strcpy(config.name, "weft");
    config.workers = 4;
}

static void *user(void *arg)
{
    (void)arg;
    weft_once_call(&config_once, build_config, NULL);
    /* Everything build_config wrote is visible here. */
    return (void *)(long)(strcmp(config.name, "weft") == 0 && config.workers == 4);
}

int main(void)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, user, NULL);
    int good = 0;
    for (int i = 0; i < THREADS; i++) {
        void *ok;
        pthread_join(th[i], &ok);
        good += ok != NULL;
    }
    printf("config '%s' with %d workers built %d time(s); %d of %d threads saw it\n",
           config.name, config.workers, atomic_load(&builds), good, THREADS);
    return atomic_load(&builds) == 1 && good == THREADS ? 0 : 1;
}
