/* Cancellation of the synchronous families (lock, rlock, sem, event, cond,
 * barrier): for each, a thread blocked forever under a token alone is cancelled by
 * another thread and returns ECANCELED with the object's state intact; a token
 * fired before the call ends a call that would block without blocking, while one
 * that can complete at once still completes; a child token is cancelled by its
 * parent. Then races of a cancel with a release or a notify (no wakeup is lost to
 * the cancelled thread), and the contention profile's count of waits under a token.
 *
 * Sequencing: a victim is known to be blocked when its family's word shows a
 * sleeper announced (PARKED, WAITERS, SLEEPERS) or weft_cond_waiting says so; a
 * cancel that comes before the sleep itself is correct too (the sleep watches the
 * token's word), so nothing here depends on timing. */
#include "check.h"
#include "waiting.h"

/* ---- a victim thread -------------------------------------------------------------
 * Runs one blocking call under a deadline carrying `token`, records its result. */

struct victim {
    int (*call)(struct victim *v);
    void *obj;
    void *obj2;
    weft_deadline d;
    int result;
    int after; /* what the call checked once it returned (family-specific) */
    pthread_t th;
};

static void *victim_main(void *arg)
{
    struct victim *v = arg;
    v->result = v->call(v);
    return NULL;
}

static void victim_start(struct victim *v, int (*call)(struct victim *), void *obj, void *obj2,
                         const weft_cancel *token)
{
    v->call = call;
    v->obj = obj;
    v->obj2 = obj2;
    v->d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, token);
    v->result = -1;
    v->after = 0;
    CHECK_EQ(pthread_create(&v->th, NULL, victim_main, v), 0);
}

static int victim_join(struct victim *v)
{
    CHECK_EQ(pthread_join(v->th, NULL), 0);
    return v->result;
}

/* A parent and a child token; the victim waits under the child, and the test fires
 * the child itself or its parent. */
struct tokens {
    weft_cancel parent, child;
};

static void tokens_init(struct tokens *t)
{
    CHECK_EQ(weft_cancel_init(&t->parent), 0);
    CHECK_EQ(weft_cancel_init_child(&t->child, &t->parent), 0);
}

static void tokens_fire(struct tokens *t, bool parent)
{
    CHECK_EQ(weft_cancel_fire(parent ? &t->parent : &t->child), 0);
}

static weft_deadline fired_deadline(weft_cancel *c)
{
    CHECK_EQ(weft_cancel_init(c), 0);
    CHECK_EQ(weft_cancel_fire(c), 0);
    return weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, c);
}

static uint32_t word_of(const _Atomic uint32_t *w)
{
    return atomic_load_explicit(w, memory_order_relaxed);
}

/* ---- lock ------------------------------------------------------------------------ */

static int lock_call(struct victim *v)
{
    return weft_lock_acquire_until(v->obj, v->d);
}

static void lock_blocked(bool parent)
{
    weft_lock l = WEFT_LOCK_INIT;
    struct tokens t;
    struct victim v;
    tokens_init(&t);
    CHECK_EQ(weft_lock_acquire(&l), 0);
    victim_start(&v, lock_call, &l, NULL, &t.child);
    EVENTUALLY(word_of(&l.word) & WEFT_LOCK_PARKED); /* asleep, or about to be */
    tokens_fire(&t, parent);
    CHECK_EQ(victim_join(&v), ECANCELED);
    CHECK(weft_lock_locked(&l)); /* still the holder's */
    CHECK_EQ(weft_lock_release(&l), 0);
    CHECK(weft_lock_try_acquire(&l)); /* and free once it lets go */
    CHECK_EQ(weft_lock_release(&l), 0);
    CHECK_EQ(word_of(&l.word), 0);
}

static void lock_cancelled_while_blocked(void)
{
    lock_blocked(false);
}

static void lock_cancelled_by_parent(void)
{
    lock_blocked(true);
}

static void lock_fired_before(void)
{
    weft_lock l = WEFT_LOCK_INIT;
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    /* Free: taken, fired token or not. */
    CHECK_EQ(weft_lock_acquire_until(&l, d), 0);
    CHECK(weft_lock_locked(&l));
    /* Held: ECANCELED at once, and no sleeper announced. */
    CHECK_EQ(weft_lock_acquire_until(&l, d), ECANCELED);
    CHECK_EQ(word_of(&l.word), WEFT_LOCK_LOCKED);
    CHECK_EQ(weft_lock_release(&l), 0);
    /* A child of a fired parent counts as fired. */
    weft_cancel kid;
    CHECK_EQ(weft_cancel_init_child(&kid, &c), 0);
    CHECK_EQ(weft_lock_acquire(&l), 0);
    CHECK_EQ(weft_lock_acquire_until(&l, weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &kid)),
             ECANCELED);
    CHECK_EQ(weft_lock_release(&l), 0);
    /* A token-free timeout is still ETIMEDOUT, a token that never fires changes nothing. */
    weft_cancel live = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_lock_acquire(&l), 0);
    CHECK_EQ(weft_lock_acquire_until(&l, weft_deadline_in(WEFT_MS(1))), ETIMEDOUT);
    CHECK_EQ(weft_lock_acquire_until(&l, weft_deadline_with_cancel(weft_deadline_in(WEFT_MS(1)),
                                                                    &live)),
             ETIMEDOUT);
    CHECK_EQ(weft_lock_release(&l), 0);
}

/* ---- rlock ----------------------------------------------------------------------- */

static int rlock_call(struct victim *v)
{
    return weft_rlock_acquire_until(v->obj, v->d);
}

static void rlock_blocked(bool parent)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    struct tokens t;
    struct victim v;
    tokens_init(&t);
    CHECK_EQ(weft_rlock_acquire(&r), 0);
    CHECK_EQ(weft_rlock_acquire(&r), 0);
    victim_start(&v, rlock_call, &r, NULL, &t.child);
    EVENTUALLY(word_of(&r.lock.word) & WEFT_LOCK_PARKED);
    tokens_fire(&t, parent);
    CHECK_EQ(victim_join(&v), ECANCELED);
    CHECK(weft_rlock_owned(&r)); /* still ours, twice over */
    CHECK_EQ(r.count, 2);
    CHECK_EQ(weft_rlock_release(&r), 0);
    CHECK_EQ(weft_rlock_release(&r), 0);
    CHECK(!weft_rlock_locked(&r));
    CHECK_EQ(weft_rlock_release(&r), EPERM);
}

static void rlock_cancelled_while_blocked(void)
{
    rlock_blocked(false);
}

static void rlock_cancelled_by_parent(void)
{
    rlock_blocked(true);
}

static int rlock_held_call(struct victim *v)
{
    /* The victim holds the rlock; the main thread's fired-token acquire fails. */
    CHECK_EQ(weft_rlock_acquire(v->obj), 0);
    atomic_store_explicit((_Atomic int *)v->obj2, 1, memory_order_release);
    while (atomic_load_explicit((_Atomic int *)v->obj2, memory_order_acquire) != 2)
        usleep(1000);
    return weft_rlock_release(v->obj);
}

static void rlock_fired_before(void)
{
    weft_rlock r = WEFT_RLOCK_INIT;
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    CHECK_EQ(weft_rlock_acquire_until(&r, d), 0); /* free: taken */
    CHECK_EQ(weft_rlock_acquire_until(&r, d), 0); /* a re-entry never blocks */
    CHECK_EQ(r.count, 2);
    CHECK_EQ(weft_rlock_release(&r), 0);
    CHECK_EQ(weft_rlock_release(&r), 0);
    /* Held by another thread: ECANCELED at once, nothing announced. */
    _Atomic int step = 0;
    struct victim holder;
    weft_cancel none = WEFT_CANCEL_INIT;
    victim_start(&holder, rlock_held_call, &r, (void *)&step, &none);
    EVENTUALLY(atomic_load_explicit(&step, memory_order_acquire) == 1);
    CHECK_EQ(weft_rlock_acquire_until(&r, d), ECANCELED);
    CHECK_EQ(word_of(&r.lock.word), WEFT_LOCK_LOCKED);
    CHECK(!weft_rlock_owned(&r));
    atomic_store_explicit(&step, 2, memory_order_release);
    CHECK_EQ(victim_join(&holder), 0);
    CHECK(!weft_rlock_locked(&r));
}

/* ---- semaphore ------------------------------------------------------------------- */

static int sem_call(struct victim *v)
{
    return weft_sem_acquire_until(v->obj, v->d);
}

static void sem_blocked(bool parent, bool bounded)
{
    weft_sem s;
    struct tokens t;
    struct victim v;
    tokens_init(&t);
    if (bounded) {
        CHECK_EQ(weft_sem_init_bounded(&s, 1), 0);
        CHECK(weft_sem_try_acquire(&s));
    } else {
        CHECK_EQ(weft_sem_init(&s, 0), 0);
    }
    victim_start(&v, sem_call, &s, NULL, &t.child);
    EVENTUALLY(word_of(&s.value) == WEFT_SEM_WAITERS);
    tokens_fire(&t, parent);
    CHECK_EQ(victim_join(&v), ECANCELED);
    CHECK_EQ(weft_sem_value(&s), 0); /* nothing taken, nothing added */
    CHECK_EQ(weft_sem_release(&s, 1), 0);
    CHECK_EQ(weft_sem_value(&s), 1);
    if (bounded)
        CHECK_EQ(weft_sem_release(&s, 1), EOVERFLOW); /* the bound is as it was */
    CHECK(weft_sem_try_acquire(&s));
    CHECK_EQ(weft_sem_value(&s), 0);
}

static void sem_cancelled_while_blocked(void)
{
    sem_blocked(false, false);
}

static void sem_cancelled_by_parent(void)
{
    sem_blocked(true, false);
}

static void sem_bounded_cancelled(void)
{
    sem_blocked(false, true);
    sem_blocked(true, true);
}

static void sem_fired_before(void)
{
    weft_sem s = WEFT_SEM_INIT(1);
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    CHECK_EQ(weft_sem_acquire_until(&s, d), 0); /* a unit there: taken */
    CHECK_EQ(weft_sem_value(&s), 0);
    CHECK_EQ(weft_sem_acquire_until(&s, d), ECANCELED);
    CHECK_EQ(word_of(&s.value), 0); /* no WAITERS announced */
    weft_sem b;
    CHECK_EQ(weft_sem_init_bounded(&b, 2), 0);
    CHECK_EQ(weft_sem_acquire_until(&b, d), 0);
    CHECK_EQ(weft_sem_acquire_until(&b, d), 0);
    CHECK_EQ(weft_sem_acquire_until(&b, d), ECANCELED);
    CHECK_EQ(weft_sem_release(&b, 2), 0);
    CHECK_EQ(weft_sem_release(&b, 1), EOVERFLOW);
}

/* ---- event ----------------------------------------------------------------------- */

static int event_call(struct victim *v)
{
    return weft_event_wait_until(v->obj, v->d);
}

static void event_blocked(bool parent)
{
    weft_event e = WEFT_EVENT_INIT;
    struct tokens t;
    struct victim v;
    tokens_init(&t);
    victim_start(&v, event_call, &e, NULL, &t.child);
    EVENTUALLY(word_of(&e.word) & WEFT_EVENT_WAITERS);
    tokens_fire(&t, parent);
    CHECK_EQ(victim_join(&v), ECANCELED);
    CHECK(!weft_event_is_set(&e)); /* still unset */
    /* A later set still reaches a later waiter. */
    weft_cancel live = WEFT_CANCEL_INIT;
    victim_start(&v, event_call, &e, NULL, &live);
    EVENTUALLY(word_of(&e.word) & WEFT_EVENT_WAITERS);
    CHECK_EQ(weft_event_set(&e), 0);
    CHECK_EQ(victim_join(&v), 0);
}

static void event_cancelled_while_blocked(void)
{
    event_blocked(false);
}

static void event_cancelled_by_parent(void)
{
    event_blocked(true);
}

static void event_fired_before(void)
{
    weft_event e = WEFT_EVENT_INIT;
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    CHECK_EQ(weft_event_wait_until(&e, d), ECANCELED);
    CHECK_EQ(word_of(&e.word), 0); /* no WAITERS announced */
    CHECK_EQ(weft_event_set(&e), 0);
    CHECK_EQ(weft_event_wait_until(&e, d), 0); /* set: returns 0, fired or not */
    CHECK(weft_event_is_set(&e));
}

/* ---- condition ------------------------------------------------------------------- */

struct cond_case {
    weft_cond cond;
    weft_lock lock;
    weft_rlock rlock;
    _Atomic bool released; /* the main thread let go of the lock after the fire */
    _Atomic bool pred;
};

/* Waits with the lock held; returns with it re-taken, which it checks: the main
 * thread held the lock across the fire and sets `released` just before letting go,
 * so a wait that returned saw it set. */
static int cond_call(struct victim *v)
{
    struct cond_case *k = v->obj;
    CHECK_EQ(weft_lock_acquire(&k->lock), 0);
    int r = weft_cond_wait_until(&k->cond, &k->lock, v->d);
    v->after = weft_lock_locked(&k->lock) &&
               atomic_load_explicit(&k->released, memory_order_relaxed);
    CHECK_EQ(weft_lock_release(&k->lock), 0);
    return r;
}

static bool cond_pred(void *arg)
{
    return atomic_load_explicit((_Atomic bool *)arg, memory_order_relaxed);
}

static int cond_for_call(struct victim *v)
{
    struct cond_case *k = v->obj;
    CHECK_EQ(weft_lock_acquire(&k->lock), 0);
    int r = weft_cond_wait_for_until(&k->cond, &k->lock, cond_pred, (void *)&k->pred, v->d);
    v->after = weft_lock_locked(&k->lock) &&
               atomic_load_explicit(&k->released, memory_order_relaxed);
    CHECK_EQ(weft_lock_release(&k->lock), 0);
    return r;
}

/* The rlock variant, taken twice: the count comes back as 2. */
static int cond_r_call(struct victim *v)
{
    struct cond_case *k = v->obj;
    CHECK_EQ(weft_rlock_acquire(&k->rlock), 0);
    CHECK_EQ(weft_rlock_acquire(&k->rlock), 0);
    int r = v->obj2 ? weft_cond_wait_for_until_r(&k->cond, &k->rlock, cond_pred,
                                                 (void *)&k->pred, v->d)
                    : weft_cond_wait_until_r(&k->cond, &k->rlock, v->d);
    v->after = weft_rlock_owned(&k->rlock) && k->rlock.count == 2 &&
               atomic_load_explicit(&k->released, memory_order_relaxed);
    CHECK_EQ(weft_rlock_release(&k->rlock), 0);
    CHECK_EQ(weft_rlock_release(&k->rlock), 0);
    CHECK_EQ(weft_rlock_release(&k->rlock), EPERM);
    return r;
}

static void cond_case_init(struct cond_case *k)
{
    memset(k, 0, sizeof *k);
}

/* Cancels a victim blocked in `call` (lock or rlock per `r`) and checks the lock
 * comes back re-held and the condition still notifies a later waiter. */
static void cond_blocked(int (*call)(struct victim *), void *obj2, bool rlock, bool parent)
{
    struct cond_case k;
    struct tokens t;
    struct victim v;
    cond_case_init(&k);
    tokens_init(&t);
    victim_start(&v, call, &k, obj2, &t.child);
    EVENTUALLY(weft_cond_waiting(&k.cond)); /* queued, and the lock let go of next */
    if (rlock) {
        EVENTUALLY(!weft_rlock_locked(&k.rlock));
        CHECK_EQ(weft_rlock_acquire(&k.rlock), 0);
    } else {
        EVENTUALLY(!weft_lock_locked(&k.lock));
        CHECK_EQ(weft_lock_acquire(&k.lock), 0);
    }
    tokens_fire(&t, parent);
    /* It has left the queue (or will, once back from its sleep), and cannot return
     * before we let go of the lock. */
    EVENTUALLY(!weft_cond_waiting(&k.cond));
    atomic_store_explicit(&k.released, true, memory_order_relaxed);
    if (rlock)
        CHECK_EQ(weft_rlock_release(&k.rlock), 0);
    else
        CHECK_EQ(weft_lock_release(&k.lock), 0);
    CHECK_EQ(victim_join(&v), ECANCELED);
    CHECK_EQ(v.after, 1);
    CHECK(!weft_lock_locked(&k.lock) && !weft_rlock_locked(&k.rlock));

    /* A later waiter is still notified. */
    weft_cancel live = WEFT_CANCEL_INIT;
    victim_start(&v, call, &k, obj2, &live);
    EVENTUALLY(weft_cond_waiting(&k.cond));
    if (rlock) {
        CHECK_EQ(weft_rlock_acquire(&k.rlock), 0);
        atomic_store_explicit(&k.pred, true, memory_order_relaxed);
        CHECK_EQ(weft_cond_notify(&k.cond, 1), 0);
        CHECK_EQ(weft_rlock_release(&k.rlock), 0);
    } else {
        CHECK_EQ(weft_lock_acquire(&k.lock), 0);
        atomic_store_explicit(&k.pred, true, memory_order_relaxed);
        CHECK_EQ(weft_cond_notify(&k.cond, 1), 0);
        CHECK_EQ(weft_lock_release(&k.lock), 0);
    }
    CHECK_EQ(victim_join(&v), 0);
    CHECK_EQ(v.after, 1);
    CHECK(!weft_cond_waiting(&k.cond));
}

static void cond_cancelled_while_blocked(void)
{
    cond_blocked(cond_call, NULL, false, false);
}

static void cond_cancelled_by_parent(void)
{
    cond_blocked(cond_call, NULL, false, true);
}

static void cond_wait_for_cancelled(void)
{
    cond_blocked(cond_for_call, NULL, false, false);
    cond_blocked(cond_for_call, NULL, false, true);
}

static void cond_rlock_cancelled(void)
{
    static int with_pred;
    cond_blocked(cond_r_call, NULL, true, false);
    cond_blocked(cond_r_call, NULL, true, true);
    cond_blocked(cond_r_call, &with_pred, true, false);
}

static void cond_fired_before(void)
{
    struct cond_case k;
    cond_case_init(&k);
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    CHECK_EQ(weft_lock_acquire(&k.lock), 0);
    CHECK_EQ(weft_cond_wait_until(&k.cond, &k.lock, d), ECANCELED);
    CHECK(weft_lock_locked(&k.lock) && !weft_cond_waiting(&k.cond));
    CHECK_EQ(weft_cond_wait_for_until(&k.cond, &k.lock, cond_pred, (void *)&k.pred, d),
             ECANCELED);
    atomic_store_explicit(&k.pred, true, memory_order_relaxed);
    CHECK_EQ(weft_cond_wait_for_until(&k.cond, &k.lock, cond_pred, (void *)&k.pred, d), 0);
    CHECK(weft_lock_locked(&k.lock));
    CHECK_EQ(weft_lock_release(&k.lock), 0);
    /* The checks come first: a fired token does not hide EPERM. */
    CHECK_EQ(weft_cond_wait_until(&k.cond, &k.lock, d), EPERM);
    CHECK_EQ(weft_rlock_acquire(&k.rlock), 0);
    CHECK_EQ(weft_rlock_acquire(&k.rlock), 0);
    CHECK_EQ(weft_cond_wait_until_r(&k.cond, &k.rlock, d), ECANCELED);
    CHECK(weft_rlock_owned(&k.rlock) && k.rlock.count == 2);
    CHECK_EQ(weft_rlock_release(&k.rlock), 0);
    CHECK_EQ(weft_rlock_release(&k.rlock), 0);
}

/* ---- barrier --------------------------------------------------------------------- */

static int barrier_call(struct victim *v)
{
    return weft_barrier_wait_until(v->obj, v->d, NULL);
}

static bool barrier_sleeping(const weft_barrier *b, uint32_t n)
{
    return weft_barrier_n_waiting(b) == n && (word_of(&b->word) & WEFT_BARRIER_SLEEPERS);
}

/* Runs one full cycle of `parties` threads; each must return 0. */
static void barrier_cycle(weft_barrier *b, uint32_t parties)
{
    struct victim v[4];
    weft_cancel live = WEFT_CANCEL_INIT;
    CHECK(parties <= 4);
    for (uint32_t i = 0; i < parties; i++)
        victim_start(&v[i], barrier_call, b, NULL, &live);
    for (uint32_t i = 0; i < parties; i++)
        CHECK_EQ(victim_join(&v[i]), 0);
}

static void barrier_blocked(bool parent)
{
    weft_barrier b;
    CHECK_EQ(weft_barrier_init(&b, 3, NULL, NULL, WEFT_FOREVER), 0);
    struct tokens t;
    tokens_init(&t);
    weft_cancel live = WEFT_CANCEL_INIT;
    struct victim other, v;
    victim_start(&other, barrier_call, &b, NULL, &live);
    EVENTUALLY(barrier_sleeping(&b, 1));
    victim_start(&v, barrier_call, &b, NULL, &t.child);
    EVENTUALLY(barrier_sleeping(&b, 2));
    tokens_fire(&t, parent);
    CHECK_EQ(victim_join(&v), ECANCELED);
    CHECK_EQ(victim_join(&other), EPIPE); /* broken, as a timeout breaks it */
    CHECK(weft_barrier_broken(&b));
    CHECK_EQ(weft_barrier_wait(&b, WEFT_FOREVER, NULL), EPIPE);
    CHECK_EQ(weft_barrier_reset(&b), 0);
    CHECK(!weft_barrier_broken(&b));
    barrier_cycle(&b, 3);
}

static void barrier_cancelled_while_blocked(void)
{
    barrier_blocked(false);
}

static void barrier_cancelled_by_parent(void)
{
    barrier_blocked(true);
}

static void barrier_fired_before(void)
{
    weft_barrier b;
    CHECK_EQ(weft_barrier_init(&b, 2, NULL, NULL, WEFT_FOREVER), 0);
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    /* Not the last: joins and breaks it at once, as an expired deadline does. */
    CHECK_EQ(weft_barrier_wait_until(&b, d, NULL), ECANCELED);
    CHECK(weft_barrier_broken(&b));
    CHECK_EQ(weft_barrier_wait_until(&b, d, NULL), EPIPE);
    CHECK_EQ(weft_barrier_reset(&b), 0);
    /* The last: the cycle completes, fired token or not. */
    weft_cancel live = WEFT_CANCEL_INIT;
    struct victim other;
    victim_start(&other, barrier_call, &b, NULL, &live);
    EVENTUALLY(weft_barrier_n_waiting(&b) == 1);
    uint32_t index = 99;
    CHECK_EQ(weft_barrier_wait_until(&b, d, &index), 0);
    CHECK_EQ(index, 1);
    CHECK_EQ(victim_join(&other), 0);
    CHECK(!weft_barrier_broken(&b));
    barrier_cycle(&b, 2);
}

/* ---- races: a cancel against a release or a notify ---------------------------------
 * A cancelled sleeper may have been handed the wakeup a release or a notify meant
 * for one sleeper; it must pass it on, so the sleeper without a token always gets
 * through. Bounded: a lost wakeup shows as the bystander's 10 s timeout. */

struct racer {
    void *obj;
    weft_deadline d;
    int result;
    _Atomic bool started;
    pthread_t th;
};

static void *sem_racer(void *arg)
{
    struct racer *r = arg;
    atomic_store_explicit(&r->started, true, memory_order_relaxed);
    r->result = weft_sem_acquire_until(r->obj, r->d);
    return NULL;
}

static void *lock_racer(void *arg)
{
    struct racer *r = arg;
    atomic_store_explicit(&r->started, true, memory_order_relaxed);
    r->result = weft_lock_acquire_until(r->obj, r->d);
    if (r->result == 0)
        CHECK_EQ(weft_lock_release(r->obj), 0);
    return NULL;
}

static void racer_start(struct racer *r, void *(*fn)(void *), void *obj, weft_deadline d)
{
    r->obj = obj;
    r->d = d;
    r->result = -1;
    atomic_store(&r->started, false);
    CHECK_EQ(pthread_create(&r->th, NULL, fn, r), 0);
    EVENTUALLY(atomic_load_explicit(&r->started, memory_order_relaxed));
}

static void sem_release_races_cancel(void)
{
    long rounds = wf_test_scale(200);
    for (long i = 0; i < rounds; i++) {
        weft_sem s = WEFT_SEM_INIT(0);
        weft_cancel c = WEFT_CANCEL_INIT;
        struct racer cancelled, bystander;
        racer_start(&cancelled, sem_racer, &s,
                    weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c));
        racer_start(&bystander, sem_racer, &s, weft_deadline_in(WEFT_SEC(10)));
        EVENTUALLY(word_of(&s.value) == WEFT_SEM_WAITERS);
        /* Another taker barges in now and then, so a woken sleeper may find the
         * unit gone. */
        CHECK_EQ(weft_sem_release(&s, 1), 0);
        bool barged = i % 2 && weft_sem_try_acquire(&s);
        CHECK_EQ(weft_cancel_fire(&c), 0);
        CHECK_EQ(pthread_join(cancelled.th, NULL), 0);
        CHECK(cancelled.result == 0 || cancelled.result == ECANCELED);
        /* Another unit for the bystander if the first went elsewhere. */
        if (barged || cancelled.result == 0)
            CHECK_EQ(weft_sem_release(&s, 1), 0);
        CHECK_EQ(pthread_join(bystander.th, NULL), 0);
        CHECK_EQ(bystander.result, 0);
        CHECK_EQ(weft_sem_value(&s), 0);
    }
}

static void lock_release_races_cancel(void)
{
    long rounds = wf_test_scale(200);
    for (long i = 0; i < rounds; i++) {
        weft_lock l = WEFT_LOCK_INIT;
        weft_cancel c = WEFT_CANCEL_INIT;
        struct racer cancelled, bystander;
        CHECK_EQ(weft_lock_acquire(&l), 0);
        racer_start(&cancelled, lock_racer, &l,
                    weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c));
        racer_start(&bystander, lock_racer, &l, weft_deadline_in(WEFT_SEC(10)));
        EVENTUALLY(word_of(&l.word) & WEFT_LOCK_PARKED);
        CHECK_EQ(weft_lock_release(&l), 0);
        if (i % 2 && weft_lock_try_acquire(&l)) /* a barging acquire */
            CHECK_EQ(weft_lock_release(&l), 0);
        CHECK_EQ(weft_cancel_fire(&c), 0);
        CHECK_EQ(pthread_join(cancelled.th, NULL), 0);
        CHECK(cancelled.result == 0 || cancelled.result == ECANCELED);
        CHECK_EQ(pthread_join(bystander.th, NULL), 0);
        CHECK_EQ(bystander.result, 0);
        CHECK(!weft_lock_locked(&l));
    }
}

/* notify(1) against the oldest waiter's cancel: exactly one of the two waiters
 * takes that notify, and none is lost. */
static void cond_notify_races_cancel(void)
{
    long rounds = wf_test_scale(200);
    for (long i = 0; i < rounds; i++) {
        struct cond_case k;
        cond_case_init(&k);
        atomic_store(&k.released, true);
        weft_cancel c = WEFT_CANCEL_INIT, live = WEFT_CANCEL_INIT;
        struct victim oldest, bystander;
        victim_start(&oldest, cond_call, &k, NULL, &c);
        EVENTUALLY(weft_cond_waiting(&k.cond));
        victim_start(&bystander, cond_call, &k, NULL, &live);
        EVENTUALLY(atomic_load(&k.cond.waiters) == 2); /* both queued */
        /* The fire first: the oldest may still be queued when the notify comes
         * (then the notify is its own) or may have left (then it is the other's). */
        CHECK_EQ(weft_cancel_fire(&c), 0);
        CHECK_EQ(weft_cond_notify(&k.cond, 1), 0);
        int r = victim_join(&oldest);
        CHECK(r == 0 || r == ECANCELED);
        if (r == 0) {
            /* It took the notify: the bystander still waits for one. */
            CHECK(weft_cond_waiting(&k.cond));
            CHECK_EQ(weft_cond_notify(&k.cond, 1), 0);
        }
        CHECK_EQ(victim_join(&bystander), 0);
        CHECK(!weft_cond_waiting(&k.cond));
    }
}

/* ---- the contention profile ------------------------------------------------------ */

static unsigned long long sampled_waits(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_EQ(weft_profile_write_file(f, NULL), 0);
    rewind(f);
    unsigned long long n = 0;
    CHECK_EQ(fscanf(f, "weft contention profile: %llu sampled waits", &n), 1);
    fclose(f);
    return n;
}

/* A sleep under a token, on one word or several, is sampled once: by wf_sleep or
 * wf_sleep_any, never by both. */
static void profile_counts_token_waits_once(void)
{
    static _Atomic uint32_t w1, w2;
    weft_cancel c;
    weft_deadline d = fired_deadline(&c);
    const _Atomic uint32_t *ws[2] = {&w1, &w2};
    uint32_t ex[2] = {0, 0}, differs[1] = {1};
    unsigned long long before = sampled_waits();
    CHECK_EQ(weft_profile_start(1), 0);
    CHECK_EQ(wf_sleep(&w1, 0, d), ETIMEDOUT);
    CHECK_EQ(wf_sleep_any(ws, ex, 2, d), ETIMEDOUT);
    CHECK_EQ(wf_sleep_any(ws, differs, 1, WEFT_DEADLINE_NEVER), 0); /* no token */
    CHECK_EQ(weft_profile_stop(), 0);
    CHECK_EQ(sampled_waits() - before, 3);
    CHECK_EQ(wf_sleep(&w1, 0, d), ETIMEDOUT); /* stopped: not sampled */
    CHECK_EQ(sampled_waits() - before, 3);
}

int main(int argc, char **argv)
{
    if (getenv("WF_TEST_FALLBACK"))
        wf_wait_any_force_fallback();
    static const wf_test_case cases[] = {
        TEST(lock_cancelled_while_blocked),
        TEST(lock_cancelled_by_parent),
        TEST(lock_fired_before),
        TEST(rlock_cancelled_while_blocked),
        TEST(rlock_cancelled_by_parent),
        TEST(rlock_fired_before),
        TEST(sem_cancelled_while_blocked),
        TEST(sem_cancelled_by_parent),
        TEST(sem_bounded_cancelled),
        TEST(sem_fired_before),
        TEST(event_cancelled_while_blocked),
        TEST(event_cancelled_by_parent),
        TEST(event_fired_before),
        TEST(cond_cancelled_while_blocked),
        TEST(cond_cancelled_by_parent),
        TEST(cond_wait_for_cancelled),
        TEST(cond_rlock_cancelled),
        TEST(cond_fired_before),
        TEST(barrier_cancelled_while_blocked),
        TEST(barrier_cancelled_by_parent),
        TEST(barrier_fired_before),
        TEST(sem_release_races_cancel),
        TEST(lock_release_races_cancel),
        TEST(cond_notify_races_cancel),
        TEST(profile_counts_token_waits_once),
    };
    return wf_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
