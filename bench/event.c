/* bench/event.c: weft_event's non-blocking paths beside the textbook flag under a
 * mutex with a condition variable ("naive", how Python builds Event). Round trips
 * through a pair of events are in bench/pingpong.c.
 *
 *  event/wait_set/<impl>   wait on an event that is already set (returns at once)
 *  event/set_clear/<impl>  set then clear with nobody waiting */
#include "bench.h"
#include "weft/event.h"

#include <pthread.h>

typedef struct {
    pthread_mutex_t m;
    pthread_cond_t c;
    int flag;
} naive_event;

static naive_event naive = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
static weft_event weft = WEFT_EVENT_INIT;

static void naive_set(naive_event *e)
{
    pthread_mutex_lock(&e->m);
    e->flag = 1;
    pthread_cond_broadcast(&e->c);
    pthread_mutex_unlock(&e->m);
}
static void naive_clear(naive_event *e)
{
    pthread_mutex_lock(&e->m);
    e->flag = 0;
    pthread_mutex_unlock(&e->m);
}
static void naive_wait(naive_event *e)
{
    pthread_mutex_lock(&e->m);
    while (!e->flag)
        pthread_cond_wait(&e->c, &e->m);
    pthread_mutex_unlock(&e->m);
}

static void event_wait_set_weft(wf_bench_state *s)
{
    weft_event_set(&weft);
    WF_BENCH_LOOP(s)
    {
        weft_event_wait(&weft, WEFT_FOREVER);
        wf_bench_clobber_memory();
    }
    weft_event_clear(&weft);
}

static void event_wait_set_naive(wf_bench_state *s)
{
    naive_set(&naive);
    WF_BENCH_LOOP(s)
    {
        naive_wait(&naive);
    }
    naive_clear(&naive);
}

static void event_set_clear_weft(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        weft_event_set(&weft);
        weft_event_clear(&weft);
    }
}

static void event_set_clear_naive(wf_bench_state *s)
{
    WF_BENCH_LOOP(s)
    {
        naive_set(&naive);
        naive_clear(&naive);
    }
}

WF_BENCH(event_wait_set_weft, "event/wait_set/weft");
WF_BENCH(event_wait_set_naive, "event/wait_set/naive");
WF_BENCH(event_set_clear_weft, "event/set_clear/weft");
WF_BENCH(event_set_clear_naive, "event/set_clear/naive");
