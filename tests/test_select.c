/* weft_wait_any: each kind alone (ready at once, and made ready while the caller
 * sleeps), mixed kinds, exactly one completed, timeouts never early, the deadline's
 * token and cancel sources, fairness between ready sources, and bad input. Run with
 * WF_TEST_FALLBACK=1, the Linux build uses its parking-lot fallback. */
#include "check.h"
#include "internal.h"

/* Runs fn(arg) on a thread after the caller has most likely gone to sleep (the
 * results are right either way; this only makes the sleeping path the usual one). */
struct later {
    pthread_t th;
    void (*fn)(void *);
    void *arg;
};

static void *later_main(void *p)
{
    struct later *l = p;
    usleep(20000);
    l->fn(l->arg);
    return NULL;
}

static void later_start(struct later *l, void (*fn)(void *), void *arg)
{
    l->fn = fn;
    l->arg = arg;
    CHECK_EQ(pthread_create(&l->th, NULL, later_main, l), 0);
}

static void later_join(struct later *l)
{
    CHECK_EQ(pthread_join(l->th, NULL), 0);
}

/* ---- bad input --------------------------------------------------------------------- */

static void bad_input(void)
{
    weft_event e = WEFT_EVENT_INIT;
    weft_source s[WEFT_WAIT_ANY_MAX + 1];
    CHECK_EQ(weft_wait_any(NULL, 1, 0), -EINVAL);
    s[0] = weft_source_event(&e);
    CHECK_EQ(weft_wait_any(s, WEFT_WAIT_ANY_MAX + 1, 0), -EINVAL);
    s[0].kind = 99;
    CHECK_EQ(weft_wait_any(s, 1, 0), -EINVAL);
    s[0].kind = 0;
    CHECK_EQ(weft_wait_any(s, 1, 0), -EINVAL);
    s[0] = weft_source_event(NULL);
    CHECK_EQ(weft_wait_any(s, 1, 0), -EINVAL);
    s[0] = weft_source_queue_get(NULL);
    CHECK_EQ(weft_wait_any(s, 1, 0), -EINVAL);
    s[0] = weft_source_cancel(NULL);
    CHECK_EQ(weft_wait_any(s, 1, 0), -EINVAL);

    /* A bad source anywhere changes nothing, even when another is ready. */
    weft_sem sem = WEFT_SEM_INIT(1);
    s[0] = weft_source_sem(&sem);
    s[1] = weft_source_lock(NULL);
    CHECK_EQ(weft_wait_any(s, 2, 0), -EINVAL);
    CHECK_EQ(weft_sem_value(&sem), 1);

    /* The words watched: 128 one-word sources fit, not with a deadline token. */
    weft_cancel c = WEFT_CANCEL_INIT;
    for (int i = 0; i < WEFT_WAIT_ANY_MAX; i++)
        s[i] = weft_source_event(&e);
    CHECK_EQ(weft_wait_any(s, WEFT_WAIT_ANY_MAX, 0), -ETIMEDOUT);
    weft_deadline d = weft_deadline_with_cancel(weft_deadline_in(0), &c);
    CHECK_EQ(weft_wait_any_until(s, WEFT_WAIT_ANY_MAX, d), -EINVAL);
    CHECK_EQ(weft_wait_any_until(s, WEFT_WAIT_ANY_MAX - 1, d), -ETIMEDOUT);
    /* A cancel source counts its chain: 16 chains of 8 are 128 words. */
    weft_cancel chain[WEFT_CANCEL_MAX_DEPTH];
    CHECK_EQ(weft_cancel_init(&chain[0]), 0);
    for (int i = 1; i < WEFT_CANCEL_MAX_DEPTH; i++)
        CHECK_EQ(weft_cancel_init_child(&chain[i], &chain[i - 1]), 0);
    for (int i = 0; i < 17; i++)
        s[i] = weft_source_cancel(&chain[WEFT_CANCEL_MAX_DEPTH - 1]);
    CHECK_EQ(weft_wait_any(s, 16, 0), -ETIMEDOUT);
    CHECK_EQ(weft_wait_any(s, 17, 0), -EINVAL);
}

/* ---- each kind alone, ready at once ------------------------------------------------- */

static void each_kind_ready(void)
{
    weft_queue *q, *full;
    CHECK_EQ(weft_queue_create(&q, 4, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_create(&full, 1, WEFT_FIFO), 0);
    int x = 1, y = 2;
    CHECK_EQ(weft_queue_put(q, &x, 0), 0);
    CHECK_EQ(weft_queue_put(full, &x, 0), 0);

    weft_source s = weft_source_queue_get(q);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    CHECK(s.item == &x && s.result == 0);
    CHECK(weft_queue_empty(q));

    s = weft_source_queue_put(q, &y);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    CHECK_EQ(s.result, 0);
    void *got;
    CHECK_EQ(weft_queue_get(q, &got, 0), 0);
    CHECK(got == &y);

    s = weft_source_queue_put(full, &y); /* full: not ready */
    CHECK_EQ(weft_wait_any(&s, 1, 0), -ETIMEDOUT);
    CHECK_EQ(weft_queue_qsize(full), 1);

    weft_event e = WEFT_EVENT_INIT;
    s = weft_source_event(&e);
    CHECK_EQ(weft_wait_any(&s, 1, 0), -ETIMEDOUT);
    weft_event_set(&e);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    CHECK(weft_event_is_set(&e)); /* an event is not consumed */

    weft_sem sem = WEFT_SEM_INIT(2);
    s = weft_source_sem(&sem);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    CHECK_EQ(weft_sem_value(&sem), 1);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    CHECK_EQ(weft_wait_any(&s, 1, 0), -ETIMEDOUT);
    CHECK_EQ(weft_sem_value(&sem), 0);

    weft_lock l = WEFT_LOCK_INIT;
    s = weft_source_lock(&l);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    CHECK(weft_lock_locked(&l));
    CHECK_EQ(weft_wait_any(&s, 1, 0), -ETIMEDOUT);
    CHECK_EQ(weft_lock_release(&l), 0);

    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    s = weft_source_future(f);
    CHECK_EQ(weft_wait_any(&s, 1, 0), -ETIMEDOUT);
    CHECK_EQ(weft_future_set_result(f, &x), 0);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);
    void *res;
    CHECK_EQ(weft_future_result(f, 0, &res), 0);
    CHECK(res == &x);
    weft_future_release(f);

    weft_cancel c = WEFT_CANCEL_INIT, child;
    CHECK_EQ(weft_cancel_init_child(&child, &c), 0);
    s = weft_source_cancel(&child);
    CHECK_EQ(weft_wait_any(&s, 1, 0), -ETIMEDOUT);
    weft_cancel_fire(&c);
    CHECK_EQ(weft_wait_any(&s, 1, 0), 0);

    CHECK_EQ(weft_queue_destroy(q), 0);
    CHECK_EQ(weft_queue_destroy(full), 0);
}

/* ---- each kind alone, made ready while the caller sleeps ---------------------------- */

static void do_put(void *q)
{
    static int item = 42;
    CHECK_EQ(weft_queue_put(q, &item, WEFT_FOREVER), 0);
}

static void do_get(void *q)
{
    void *item;
    CHECK_EQ(weft_queue_get(q, &item, WEFT_FOREVER), 0);
}

static void do_set(void *e)
{
    CHECK_EQ(weft_event_set(e), 0);
}

static void do_pulse(void *e)
{
    CHECK_EQ(weft_event_set(e), 0);
    CHECK_EQ(weft_event_clear(e), 0);
}

static void do_release_sem(void *s)
{
    CHECK_EQ(weft_sem_release(s, 1), 0);
}

static void do_release_lock(void *l)
{
    CHECK_EQ(weft_lock_release(l), 0);
}

static void do_finish(void *f)
{
    CHECK_EQ(weft_future_set_result(f, NULL), 0);
}

static void do_fire(void *c)
{
    CHECK_EQ(weft_cancel_fire(c), 0);
}

static void wait_for(weft_source *s, void (*fn)(void *), void *arg)
{
    struct later l;
    later_start(&l, fn, arg);
    CHECK_EQ(weft_wait_any(s, 1, WEFT_SEC(30)), 0);
    later_join(&l);
    CHECK_EQ(s->result, 0);
}

static void each_kind_wakes(void)
{
    int kinds[] = {WEFT_FIFO, WEFT_FIFO, WEFT_LIFO, WEFT_PRIORITY};
    size_t sizes[] = {2, 0, 2, 0};
    for (int k = 0; k < 4; k++) {
        weft_queue *q;
        CHECK_EQ(weft_queue_create(&q, sizes[k], kinds[k]), 0);
        weft_source s = weft_source_queue_get(q);
        wait_for(&s, do_put, q);
        CHECK(*(int *)s.item == 42);
        CHECK(weft_queue_empty(q));
        if (sizes[k]) {
            int a = 1;
            while (!weft_queue_full(q))
                CHECK_EQ(weft_queue_put(q, &a, 0), 0);
            s = weft_source_queue_put(q, &a);
            wait_for(&s, do_get, q);
            CHECK(weft_queue_full(q));
        }
        CHECK_EQ(weft_queue_shutdown(q, true), 0);
        CHECK_EQ(weft_queue_destroy(q), 0);
    }

    weft_event e = WEFT_EVENT_INIT;
    weft_source s = weft_source_event(&e);
    wait_for(&s, do_set, &e);
    weft_event_clear(&e);
    wait_for(&s, do_pulse, &e); /* a set cleared at once still counts */
    CHECK(!weft_event_is_set(&e));

    weft_sem sem = WEFT_SEM_INIT(0);
    s = weft_source_sem(&sem);
    wait_for(&s, do_release_sem, &sem);
    CHECK_EQ(weft_sem_value(&sem), 0);

    weft_lock l = WEFT_LOCK_INIT;
    weft_lock_acquire(&l);
    s = weft_source_lock(&l);
    wait_for(&s, do_release_lock, &l);
    CHECK(weft_lock_locked(&l)); /* ours now */
    CHECK_EQ(weft_lock_release(&l), 0);

    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    s = weft_source_future(f);
    wait_for(&s, do_finish, f);
    CHECK(weft_future_done(f));
    weft_future_release(f);

    weft_cancel c = WEFT_CANCEL_INIT, child;
    CHECK_EQ(weft_cancel_init_child(&child, &c), 0);
    s = weft_source_cancel(&child);
    wait_for(&s, do_fire, &c);
}

static void do_shutdown(void *q)
{
    CHECK_EQ(weft_queue_shutdown(q, false), 0);
}

/* A queue shut down is ready: its source completes with ESHUTDOWN, nothing moved. */
static void queue_shutdown_completes(void)
{
    weft_queue *q;
    CHECK_EQ(weft_queue_create(&q, 0, WEFT_FIFO), 0);
    weft_event never = WEFT_EVENT_INIT;
    weft_source s[2] = {weft_source_event(&never), weft_source_queue_get(q)};
    struct later l;
    later_start(&l, do_shutdown, q);
    CHECK_EQ(weft_wait_any(s, 2, WEFT_SEC(30)), 1);
    later_join(&l);
    CHECK_EQ(s[1].result, ESHUTDOWN);
    weft_source p = weft_source_queue_put(q, NULL);
    CHECK_EQ(weft_wait_any(&p, 1, 0), 0);
    CHECK_EQ(p.result, ESHUTDOWN);
    CHECK_EQ(weft_queue_destroy(q), 0);
}

/* ---- exactly one -------------------------------------------------------------------- */

static void exactly_one_completes(void)
{
    weft_queue *a, *b;
    CHECK_EQ(weft_queue_create(&a, 8, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_create(&b, 0, WEFT_FIFO), 0);
    int x = 1, y = 2;
    weft_sem sem = WEFT_SEM_INIT(1);
    weft_lock l = WEFT_LOCK_INIT;
    for (int round = 0; round < 8; round++) {
        CHECK_EQ(weft_queue_put(a, &x, 0), 0);
        CHECK_EQ(weft_queue_put(b, &y, 0), 0);
        weft_source s[4] = {weft_source_queue_get(a), weft_source_queue_get(b),
                            weft_source_sem(&sem), weft_source_lock(&l)};
        int i = weft_wait_any(s, 4, 0);
        CHECK(i >= 0 && i < 4);
        /* The winner's effect happened; nobody else's did. */
        CHECK_EQ(weft_queue_qsize(a), i == 0 ? 0 : 1);
        CHECK_EQ(weft_queue_qsize(b), i == 1 ? 0 : 1);
        CHECK_EQ(weft_sem_value(&sem), i == 2 ? 0 : 1);
        CHECK(weft_lock_locked(&l) == (i == 3));
        /* Put everything back as it was. */
        void *got;
        if (i != 0)
            CHECK_EQ(weft_queue_get(a, &got, 0), 0);
        if (i != 1)
            CHECK_EQ(weft_queue_get(b, &got, 0), 0);
        if (i == 2)
            weft_sem_release(&sem, 1);
        if (i == 3)
            weft_lock_release(&l);
    }
    CHECK_EQ(weft_queue_destroy(a), 0);
    CHECK_EQ(weft_queue_destroy(b), 0);
}

/* The same object twice: one item, one completion; the other stays listed nowhere. */
static void same_source_twice(void)
{
    weft_queue *q;
    CHECK_EQ(weft_queue_create(&q, 4, WEFT_FIFO), 0);
    weft_source s[2] = {weft_source_queue_get(q), weft_source_queue_get(q)};
    struct later l;
    later_start(&l, do_put, q);
    int i = weft_wait_any(s, 2, WEFT_SEC(30));
    later_join(&l);
    CHECK(i == 0 || i == 1);
    CHECK(*(int *)s[i].item == 42);
    CHECK(weft_queue_empty(q));
    CHECK_EQ(weft_queue_destroy(q), 0); /* no waiter left listed */

    /* One word watched twice (a semaphore, a lock): one wake, one completion. */
    weft_sem sem = WEFT_SEM_INIT(0);
    weft_source t[2] = {weft_source_sem(&sem), weft_source_sem(&sem)};
    later_start(&l, do_release_sem, &sem);
    i = weft_wait_any(t, 2, WEFT_SEC(30));
    later_join(&l);
    CHECK(i == 0 || i == 1);
    CHECK_EQ(weft_sem_value(&sem), 0);
    weft_lock lock = WEFT_LOCK_INIT;
    weft_lock_acquire(&lock);
    t[0] = t[1] = weft_source_lock(&lock);
    later_start(&l, do_release_lock, &lock);
    i = weft_wait_any(t, 2, WEFT_SEC(30));
    later_join(&l);
    CHECK(i == 0 || i == 1);
    CHECK(weft_lock_locked(&lock));
    CHECK_EQ(weft_lock_release(&lock), 0);
    CHECK(!weft_lock_locked(&lock));
}

/* ---- timeouts and cancellation ------------------------------------------------------ */

static void timeouts_never_early(void)
{
    weft_event e = WEFT_EVENT_INIT;
    weft_queue *q;
    CHECK_EQ(weft_queue_create(&q, 2, WEFT_FIFO), 0);
    weft_source s[2] = {weft_source_event(&e), weft_source_queue_get(q)};
    CHECK_EQ(weft_wait_any(s, 2, 0), -ETIMEDOUT);
    for (int i = 0; i < 3; i++) {
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_wait_any(s, 2, WEFT_MS(10)), -ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
    }
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_wait_any(NULL, 0, WEFT_MS(5)), -ETIMEDOUT); /* no source: a sleep */
    CHECK(weft_now_ns() - t0 >= WEFT_MS(5));
    CHECK_EQ(weft_queue_destroy(q), 0);
}

static void deadline_token_cancels(void)
{
    weft_queue *q;
    CHECK_EQ(weft_queue_create(&q, 0, WEFT_FIFO), 0);
    weft_sem sem = WEFT_SEM_INIT(0);
    weft_lock l = WEFT_LOCK_INIT;
    weft_lock_acquire(&l);
    weft_cancel c = WEFT_CANCEL_INIT;
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c);
    weft_source s[3] = {weft_source_queue_get(q), weft_source_sem(&sem), weft_source_lock(&l)};
    struct later later;
    later_start(&later, do_fire, &c);
    CHECK_EQ(weft_wait_any_until(s, 3, d), -ECANCELED);
    later_join(&later);
    /* Nothing was consumed, and the sources work as before. */
    CHECK_EQ(weft_sem_value(&sem), 0);
    CHECK(weft_lock_locked(&l));
    int x = 5;
    CHECK_EQ(weft_queue_put(q, &x, 0), 0);
    CHECK_EQ(weft_queue_qsize(q), 1);
    /* Fired before: -ECANCELED at once when nothing is ready ... */
    CHECK_EQ(weft_wait_any_until(s + 1, 2, d), -ECANCELED);
    CHECK_EQ(weft_wait_any_until(NULL, 0, d), -ECANCELED);
    /* ... but a ready source still completes (a call that need not block). */
    CHECK_EQ(weft_wait_any_until(s, 3, d), 0);
    CHECK(s[0].item == &x);
    weft_lock_release(&l);
    CHECK_EQ(weft_queue_destroy(q), 0);
}

static void cancel_source_is_a_source(void)
{
    weft_event e = WEFT_EVENT_INIT;
    weft_cancel stop = WEFT_CANCEL_INIT;
    weft_source s[2] = {weft_source_event(&e), weft_source_cancel(&stop)};
    struct later l;
    later_start(&l, do_fire, &stop);
    CHECK_EQ(weft_wait_any(s, 2, WEFT_SEC(30)), 1);
    later_join(&l);
    /* A fired deadline token and a cancel source that fired: the source wins (it is
     * ready; the token is looked at only when the call would block). */
    weft_cancel c = WEFT_CANCEL_INIT;
    weft_cancel_fire(&c);
    CHECK_EQ(weft_wait_any_until(s, 2, weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c)), 1);
}

/* ---- fairness ------------------------------------------------------------------------ */

static void fair_between_ready_sources(void)
{
    enum { ROUNDS = 1000 };
    weft_sem a = WEFT_SEM_INIT(ROUNDS), b = WEFT_SEM_INIT(ROUNDS);
    weft_event e = WEFT_EVENT_INIT;
    weft_event_set(&e);
    weft_source s[3] = {weft_source_sem(&a), weft_source_sem(&b), weft_source_event(&e)};
    int hits[3] = {0, 0, 0};
    for (int i = 0; i < ROUNDS; i++) {
        int r = weft_wait_any(s, 3, 0);
        CHECK(r >= 0 && r < 3);
        hits[r]++;
    }
    /* Each call starts one further along: every ready source gets its turns. */
    for (int i = 0; i < 3; i++)
        CHECK(hits[i] >= ROUNDS / 3 - 1);
    CHECK_EQ(weft_sem_value(&a), ROUNDS - hits[0]);
    CHECK_EQ(weft_sem_value(&b), ROUNDS - hits[1]);
}

/* ---- mixed, with other kinds of waiters on the same objects ------------------------ */

struct mixed {
    weft_sem sem;
    weft_event event;
    _Atomic int plain_got, select_done, select_result;
};

static void *plain_sem_waiter(void *p)
{
    struct mixed *m = p;
    CHECK_EQ(weft_sem_acquire(&m->sem), 0);
    atomic_store(&m->plain_got, 1);
    return NULL;
}

static void *select_sem_waiter(void *p)
{
    struct mixed *m = p;
    weft_source s[2] = {weft_source_sem(&m->sem), weft_source_event(&m->event)};
    atomic_store(&m->select_result, weft_wait_any(s, 2, WEFT_FOREVER));
    atomic_store(&m->select_done, 1);
    return NULL;
}

/* A select waiter and a plain waiter sleep on one semaphore: one release reaches
 * exactly one of them, and the other is still there to be served after. */
static void mixed_waiters_share_a_semaphore(void)
{
    for (int round = 0; round < 4; round++) {
        struct mixed m = {.sem = WEFT_SEM_INIT(0), .event = WEFT_EVENT_INIT};
        pthread_t plain, sel;
        CHECK_EQ(pthread_create(&plain, NULL, plain_sem_waiter, &m), 0);
        CHECK_EQ(pthread_create(&sel, NULL, select_sem_waiter, &m), 0);
        usleep(20000);
        CHECK_EQ(weft_sem_release(&m.sem, 1), 0);
        EVENTUALLY(atomic_load(&m.plain_got) || atomic_load(&m.select_done));
        if (atomic_load(&m.select_done)) {
            CHECK_EQ(atomic_load(&m.select_result), 0); /* took the unit */
            CHECK_EQ(weft_sem_release(&m.sem, 1), 0);   /* the plain waiter's */
        } else {
            CHECK_EQ(weft_event_set(&m.event), 0); /* the select waiter leaves */
        }
        CHECK_EQ(pthread_join(plain, NULL), 0);
        CHECK_EQ(pthread_join(sel, NULL), 0);
        CHECK_EQ(atomic_load(&m.plain_got), 1);
        CHECK(atomic_load(&m.select_result) == 0 || atomic_load(&m.select_result) == 1);
        CHECK_EQ(weft_sem_value(&m.sem), 0);
    }
}

/* ---- a woken waiter that leaves by another source passes the wakeup on ------------
 * S (weft_wait_any over {event, X}) goes to sleep first, then P, a plain waiter on X.
 * X is made ready for one waiter: its wakeup goes to the oldest sleeper, S; before S
 * runs, the event is set too, and S (which looks at the event first) leaves by it.
 * The wakeup S took from X must then go on to P, which would otherwise sleep on with
 * X ready (a lost wakeup). Whatever the timing, P must get X. */

enum { X_LOCK, X_SEM, X_QUEUE };

struct pass_on {
    int kind;
    weft_lock lock;
    weft_sem sem;
    weft_queue *queue;
    weft_event event;
    _Atomic int s_result, s_done, p_done;
};

static void *pass_on_select(void *p)
{
    struct pass_on *t = p;
    weft_source s[2] = {weft_source_event(&t->event)};
    s[1] = t->kind == X_LOCK  ? weft_source_lock(&t->lock)
           : t->kind == X_SEM ? weft_source_sem(&t->sem)
                              : weft_source_queue_get(t->queue);
    atomic_store(&t->s_result, weft_wait_any(s, 2, WEFT_FOREVER));
    atomic_store(&t->s_done, 1);
    return NULL;
}

static void *pass_on_plain(void *p)
{
    struct pass_on *t = p;
    void *item;
    if (t->kind == X_LOCK)
        CHECK_EQ(weft_lock_acquire(&t->lock), 0);
    else if (t->kind == X_SEM)
        CHECK_EQ(weft_sem_acquire(&t->sem), 0);
    else
        CHECK_EQ(weft_queue_get(t->queue, &item, WEFT_FOREVER), 0);
    atomic_store(&t->p_done, 1);
    return NULL;
}

/* Makes X ready once: releases the lock, posts a unit, or puts an item. */
static void give_x(struct pass_on *t)
{
    static int item = 7;
    if (t->kind == X_LOCK)
        CHECK_EQ(weft_lock_release(&t->lock), 0);
    else if (t->kind == X_SEM)
        CHECK_EQ(weft_sem_release(&t->sem, 1), 0);
    else
        CHECK_EQ(weft_queue_put(t->queue, &item, 0), 0);
}

static void departing_waiter_passes_wakeup_on(void)
{
    for (int kind = X_LOCK; kind <= X_QUEUE; kind++) {
        for (int round = 0; round < 3; round++) {
            struct pass_on t = {.kind = kind, .lock = WEFT_LOCK_INIT, .sem = WEFT_SEM_INIT(0),
                                .event = WEFT_EVENT_INIT};
            CHECK_EQ(weft_queue_create(&t.queue, 4, WEFT_FIFO), 0);
            if (kind == X_LOCK)
                weft_lock_acquire(&t.lock);
            pthread_t s, p;
            CHECK_EQ(pthread_create(&s, NULL, pass_on_select, &t), 0);
            usleep(30000);
            CHECK_EQ(pthread_create(&p, NULL, pass_on_plain, &t), 0);
            usleep(30000);
            give_x(&t);
            CHECK_EQ(weft_event_set(&t.event), 0);
            EVENTUALLY(atomic_load(&t.s_done));
            int r = atomic_load(&t.s_result);
            CHECK(r == 0 || r == 1);
            if (r == 1) /* S got X after all: hand it to P */
                give_x(&t);
            EVENTUALLY(atomic_load(&t.p_done)); /* P got X: no wakeup was lost */
            CHECK_EQ(pthread_join(s, NULL), 0);
            CHECK_EQ(pthread_join(p, NULL), 0);
            if (kind == X_LOCK)
                CHECK_EQ(weft_lock_release(&t.lock), 0);
            CHECK_EQ(weft_sem_value(&t.sem), 0);
            CHECK(weft_queue_empty(t.queue));
            CHECK_EQ(weft_queue_destroy(t.queue), 0);
        }
    }
}

int main(int argc, char **argv)
{
    if (getenv("WF_TEST_FALLBACK"))
        wf_wait_any_force_fallback();
    static const wf_test_case cases[] = {
        TEST(bad_input),
        TEST(each_kind_ready),
        TEST(each_kind_wakes),
        TEST(queue_shutdown_completes),
        TEST(exactly_one_completes),
        TEST(same_source_twice),
        TEST(timeouts_never_early),
        TEST(deadline_token_cancels),
        TEST(cancel_source_is_a_source),
        TEST(fair_between_ready_sources),
        TEST(mixed_waiters_share_a_semaphore),
        TEST(departing_waiter_passes_wakeup_on),
    };
    return wf_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
