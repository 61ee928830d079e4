/* bench/pingpong.c: round trips between two threads through a pair of semaphores
 * or a pair of events, weft's beside pthreads' sem_t and the textbook mutex +
 * condition variable versions (pthreads' and C11's).
 *
 *  sem/pingpong/<impl>     A: release(ping); acquire(pong)   B: acquire(ping); release(pong)
 *  event/pingpong/<impl>   A: set(ping); wait(pong); clear(pong)
 *                          B: wait(ping); clear(ping); set(pong)
 *
 * One iteration is one round trip, timed on A; B is a pthread the body starts before
 * the loop. Target: weft's round trip at most 0.5x the mutex+condvar one
 * ("naive"). The event protocol is race-free: each side clears its own event before
 * it signals the other, and signals only after seeing the other's signal. */
#include "bench.h"
#include "weft/event.h"
#include "weft/sem.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <threads.h>

/* One implementation: `signal(obj, side)` posts to side (0: A->B, 1: B->A), `wait`
 * consumes the post on side. The call through a pointer costs the same for all. */
typedef struct pingpong_ops {
    void (*init)(void *obj);
    void (*fini)(void *obj);
    void (*signal)(void *obj, int side);
    void (*wait)(void *obj, int side);
} pingpong_ops;

typedef struct pingpong {
    const pingpong_ops *ops;
    void *obj;
    atomic_bool stop;
} pingpong;

static void *partner(void *arg)
{
    pingpong *p = arg;
    for (;;) {
        p->ops->wait(p->obj, 0);
        /* relaxed is enough: the ping that follows the store carries it. */
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            return NULL;
        p->ops->signal(p->obj, 1);
    }
}

static void pingpong_run(wf_bench_state *s, const pingpong_ops *ops, void *obj)
{
    pingpong p = {ops, obj, false};
    ops->init(obj);
    pthread_t b;
    if (pthread_create(&b, NULL, partner, &p) != 0) {
        wf_bench_skip_with_error(s, "pthread_create failed");
        ops->fini(obj);
        return;
    }
    WF_BENCH_LOOP(s)
    {
        ops->signal(obj, 0);
        ops->wait(obj, 1);
    }
    atomic_store_explicit(&p.stop, true, memory_order_relaxed);
    ops->signal(obj, 0);
    pthread_join(b, NULL);
    ops->fini(obj);
}

#define ALIGNED __attribute__((aligned(64)))
static void nothing(void *obj) { (void)obj; }

/* ---- weft ------------------------------------------------------------------------ */
static struct { ALIGNED weft_sem s[2]; } weft_sems;
static struct { ALIGNED weft_event e[2]; } weft_events;

static void weft_sem_init2(void *obj)
{
    weft_sem *s = obj;
    weft_sem_init(&s[0], 0);
    weft_sem_init(&s[1], 0);
}
static void weft_sem_signal(void *obj, int side) { weft_sem_release(&((weft_sem *)obj)[side], 1); }
static void weft_sem_wait(void *obj, int side) { weft_sem_acquire(&((weft_sem *)obj)[side]); }
static const pingpong_ops weft_sem_ops = {weft_sem_init2, nothing, weft_sem_signal, weft_sem_wait};

static void weft_event_init2(void *obj)
{
    weft_event *e = obj;
    weft_event_clear(&e[0]);
    weft_event_clear(&e[1]);
}
static void weft_event_signal(void *obj, int side) { weft_event_set(&((weft_event *)obj)[side]); }
static void weft_event_wait_clear(void *obj, int side)
{
    weft_event *e = &((weft_event *)obj)[side];
    weft_event_wait(e, WEFT_FOREVER);
    weft_event_clear(e);
}
static const pingpong_ops weft_event_ops = {weft_event_init2, nothing, weft_event_signal,
                                            weft_event_wait_clear};

/* ---- pthreads: sem_t ------------------------------------------------------------- */
static struct { ALIGNED sem_t s[2]; } posix_sems;

static void posix_init(void *obj)
{
    sem_t *s = obj;
    sem_init(&s[0], 0, 0);
    sem_init(&s[1], 0, 0);
}
static void posix_fini(void *obj)
{
    sem_t *s = obj;
    sem_destroy(&s[0]);
    sem_destroy(&s[1]);
}
static void posix_signal(void *obj, int side) { sem_post(&((sem_t *)obj)[side]); }
static void posix_wait(void *obj, int side)
{
    while (sem_wait(&((sem_t *)obj)[side]) != 0) /* EINTR */
        ;
}
static const pingpong_ops posix_sem_ops = {posix_init, posix_fini, posix_signal, posix_wait};

/* ---- naive: a counter or a flag under a mutex, with a condition variable ---------
 * The textbook semaphore and event (Python's threading module builds Event this
 * way), in pthreads ("naive") and in C11 <threads.h> ("c11"). `count` is the
 * semaphore's units or the event's flag. */
typedef struct {
    ALIGNED pthread_mutex_t m;
    pthread_cond_t c;
    unsigned count;
} naive_side;
static naive_side naive_sides[2];

static void naive_init(void *obj)
{
    naive_side *n = obj;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_init(&n[i].m, NULL);
        pthread_cond_init(&n[i].c, NULL);
        n[i].count = 0;
    }
}
static void naive_fini(void *obj)
{
    naive_side *n = obj;
    for (int i = 0; i < 2; i++) {
        pthread_mutex_destroy(&n[i].m);
        pthread_cond_destroy(&n[i].c);
    }
}
static void naive_sem_signal(void *obj, int side)
{
    naive_side *n = &((naive_side *)obj)[side];
    pthread_mutex_lock(&n->m);
    n->count++;
    pthread_cond_signal(&n->c);
    pthread_mutex_unlock(&n->m);
}
static void naive_sem_wait(void *obj, int side)
{
    naive_side *n = &((naive_side *)obj)[side];
    pthread_mutex_lock(&n->m);
    while (n->count == 0)
        pthread_cond_wait(&n->c, &n->m);
    n->count--;
    pthread_mutex_unlock(&n->m);
}
static void naive_event_set(void *obj, int side)
{
    naive_side *n = &((naive_side *)obj)[side];
    pthread_mutex_lock(&n->m);
    n->count = 1;
    pthread_cond_broadcast(&n->c);
    pthread_mutex_unlock(&n->m);
}
static void naive_event_wait_clear(void *obj, int side)
{
    naive_side *n = &((naive_side *)obj)[side];
    pthread_mutex_lock(&n->m);
    while (n->count == 0)
        pthread_cond_wait(&n->c, &n->m);
    pthread_mutex_unlock(&n->m);
    /* clear, as a separate call like the event's clear() */
    pthread_mutex_lock(&n->m);
    n->count = 0;
    pthread_mutex_unlock(&n->m);
}
static const pingpong_ops naive_sem_ops = {naive_init, naive_fini, naive_sem_signal,
                                           naive_sem_wait};
static const pingpong_ops naive_event_ops = {naive_init, naive_fini, naive_event_set,
                                             naive_event_wait_clear};

typedef struct {
    ALIGNED mtx_t m;
    cnd_t c;
    unsigned count;
} c11_side;
static c11_side c11_sides[2];

static void c11_init(void *obj)
{
    c11_side *n = obj;
    for (int i = 0; i < 2; i++) {
        mtx_init(&n[i].m, mtx_plain);
        cnd_init(&n[i].c);
        n[i].count = 0;
    }
}
static void c11_fini(void *obj)
{
    c11_side *n = obj;
    for (int i = 0; i < 2; i++) {
        mtx_destroy(&n[i].m);
        cnd_destroy(&n[i].c);
    }
}
static void c11_sem_signal(void *obj, int side)
{
    c11_side *n = &((c11_side *)obj)[side];
    mtx_lock(&n->m);
    n->count++;
    cnd_signal(&n->c);
    mtx_unlock(&n->m);
}
static void c11_sem_wait(void *obj, int side)
{
    c11_side *n = &((c11_side *)obj)[side];
    mtx_lock(&n->m);
    while (n->count == 0)
        cnd_wait(&n->c, &n->m);
    n->count--;
    mtx_unlock(&n->m);
}
static void c11_event_set(void *obj, int side)
{
    c11_side *n = &((c11_side *)obj)[side];
    mtx_lock(&n->m);
    n->count = 1;
    cnd_broadcast(&n->c);
    mtx_unlock(&n->m);
}
static void c11_event_wait_clear(void *obj, int side)
{
    c11_side *n = &((c11_side *)obj)[side];
    mtx_lock(&n->m);
    while (n->count == 0)
        cnd_wait(&n->c, &n->m);
    mtx_unlock(&n->m);
    mtx_lock(&n->m);
    n->count = 0;
    mtx_unlock(&n->m);
}
static const pingpong_ops c11_sem_ops = {c11_init, c11_fini, c11_sem_signal, c11_sem_wait};
static const pingpong_ops c11_event_ops = {c11_init, c11_fini, c11_event_set,
                                           c11_event_wait_clear};

/* ---- registration (weft first: the report's column order) ------------------------- */
static void sem_weft(wf_bench_state *s) { pingpong_run(s, &weft_sem_ops, weft_sems.s); }
static void sem_pthread(wf_bench_state *s) { pingpong_run(s, &posix_sem_ops, posix_sems.s); }
static void sem_naive(wf_bench_state *s) { pingpong_run(s, &naive_sem_ops, naive_sides); }
static void sem_c11(wf_bench_state *s) { pingpong_run(s, &c11_sem_ops, c11_sides); }
static void event_weft(wf_bench_state *s) { pingpong_run(s, &weft_event_ops, weft_events.e); }
static void event_naive(wf_bench_state *s) { pingpong_run(s, &naive_event_ops, naive_sides); }
static void event_c11(wf_bench_state *s) { pingpong_run(s, &c11_event_ops, c11_sides); }

WF_BENCH(sem_weft, "sem/pingpong/weft", .target_peer = "naive",
         .target = 0.5);
WF_BENCH(sem_pthread, "sem/pingpong/pthread");
WF_BENCH(sem_naive, "sem/pingpong/naive");
WF_BENCH(sem_c11, "sem/pingpong/c11");
WF_BENCH(event_weft, "event/pingpong/weft", .target_peer = "naive", .target = 0.5);
WF_BENCH(event_naive, "event/pingpong/naive");
WF_BENCH(event_c11, "event/pingpong/c11");
