/* weft_cond: every verb and error code (a wait with an rlock another thread holds
 * is EPERM and changes nothing), timeouts never early, Python's semantics (FIFO
 * notify, exactly n woken, no stolen wakeup), wait_for, the rlock variants
 * (released fully, count restored), weft_cond_waiting's count of queued waiters,
 * notify_all waking every sleeper, none of them spinning on a lock still held, and
 * a broadcast absorbed by the sleepers of another condition sharing its queue. */
#include "check.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h" /* wf_hash_address: conditions that share a queue */

static weft_lock lock = WEFT_LOCK_INIT;
static weft_cond cond = WEFT_COND_INIT;

static void layout_and_zero_init(void)
{
    CHECK_EQ(sizeof(weft_cond), 4);
    weft_cond zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(weft_cond_notify(&zero, 1), 0); /* nobody waits: nothing to do */
    CHECK_EQ(weft_cond_notify_all(&zero), 0);
    weft_cond init = WEFT_COND_INIT;
    CHECK_EQ(memcmp(&zero, &init, sizeof zero), 0);
    weft_lock l = WEFT_LOCK_INIT;
    CHECK_EQ(weft_lock_acquire(&l), 0);
    CHECK_EQ(weft_cond_wait(&zero, &l, 0), ETIMEDOUT);
    CHECK(weft_lock_locked(&l));
    CHECK_EQ(memcmp(&zero, &init, sizeof zero), 0); /* a timed-out waiter leaves no trace */
    CHECK_EQ(weft_lock_release(&l), 0);
}

static bool always(void *arg)
{
    (void)arg;
    return true;
}

static void bad_input(void)
{
    weft_cond c = WEFT_COND_INIT;
    weft_lock l = WEFT_LOCK_INIT;
    weft_rlock r = WEFT_RLOCK_INIT;
    CHECK_EQ(weft_cond_wait(NULL, &l, 0), EINVAL);
    CHECK_EQ(weft_cond_wait(&c, NULL, 0), EINVAL);
    CHECK_EQ(weft_cond_wait_until(NULL, &l, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_cond_wait_for(&c, &l, NULL, NULL, 0), EINVAL);
    CHECK_EQ(weft_cond_wait_for(NULL, &l, always, NULL, 0), EINVAL);
    CHECK_EQ(weft_cond_wait_for_until(&c, NULL, always, NULL, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_cond_wait_r(NULL, &r, 0), EINVAL);
    CHECK_EQ(weft_cond_wait_r(&c, NULL, 0), EINVAL);
    CHECK_EQ(weft_cond_wait_until_r(&c, NULL, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_cond_wait_for_r(&c, &r, NULL, NULL, 0), EINVAL);
    CHECK_EQ(weft_cond_wait_for_until_r(NULL, &r, always, NULL, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(weft_cond_notify(NULL, 1), EINVAL);
    CHECK_EQ(weft_cond_notify(&c, -1), EINVAL);
    CHECK_EQ(weft_cond_notify_all(NULL), EINVAL);
    CHECK_EQ(c.waiters, 0);
}

static bool held_by_other;

static void *hold_rlock(void *arg)
{
    weft_rlock *r = arg;
    CHECK_EQ(weft_rlock_acquire(r), 0);
    held_by_other = true;
    return NULL; /* exits holding it: only its owner could release it */
}

/* Waiting without the lock is EPERM and changes nothing (the lock stays free,
 * nobody is queued), for every flavour. */
static void wait_without_lock_is_eperm(void)
{
    weft_cond c = WEFT_COND_INIT;
    weft_lock l = WEFT_LOCK_INIT;
    CHECK_EQ(weft_cond_wait(&c, &l, WEFT_FOREVER), EPERM);
    CHECK_EQ(weft_cond_wait_until(&c, &l, WEFT_DEADLINE_NEVER), EPERM);
    CHECK_EQ(weft_cond_wait_for(&c, &l, always, NULL, WEFT_FOREVER), EPERM);
    CHECK_EQ(weft_cond_wait_for_until(&c, &l, always, NULL, WEFT_DEADLINE_NEVER), EPERM);
    CHECK(!weft_lock_locked(&l));
    CHECK_EQ(c.waiters, 0);

    weft_rlock r = WEFT_RLOCK_INIT;
    CHECK_EQ(weft_cond_wait_r(&c, &r, WEFT_FOREVER), EPERM); /* free */
    CHECK_EQ(weft_cond_wait_for_r(&c, &r, always, NULL, WEFT_FOREVER), EPERM);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, hold_rlock, &r), 0);
    pthread_join(th, NULL);
    CHECK(held_by_other);
    CHECK_EQ(weft_cond_wait_r(&c, &r, WEFT_FOREVER), EPERM); /* held by another thread */
    CHECK_EQ(weft_cond_wait_until_r(&c, &r, WEFT_DEADLINE_NEVER), EPERM);
    CHECK_EQ(weft_cond_wait_for_until_r(&c, &r, always, NULL, WEFT_DEADLINE_NEVER), EPERM);
    CHECK(weft_rlock_locked(&r));
    CHECK_EQ(c.waiters, 0);
}

/* An rlock held (twice) by a live thread: a wait with it is EPERM, and that
 * thread still holds it exactly as before. */
static weft_event holding, may_release;

static void *hold_rlock_until_told(void *arg)
{
    weft_rlock *r = arg;
    CHECK_EQ(weft_rlock_acquire(r), 0);
    CHECK_EQ(weft_rlock_acquire(r), 0);
    CHECK_EQ(weft_event_set(&holding), 0);
    CHECK_EQ(weft_event_wait(&may_release, WEFT_FOREVER), 0);
    CHECK(weft_rlock_owned(r));
    CHECK_EQ(r->count, 2);
    CHECK_EQ(weft_rlock_release(r), 0);
    CHECK_EQ(weft_rlock_release(r), 0);
    CHECK_EQ(weft_rlock_release(r), EPERM);
    return NULL;
}

static void wait_r_with_rlock_of_another_thread(void)
{
    weft_cond c = WEFT_COND_INIT;
    weft_rlock r = WEFT_RLOCK_INIT;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, hold_rlock_until_told, &r), 0);
    CHECK_EQ(weft_event_wait(&holding, WEFT_FOREVER), 0);
    CHECK_EQ(weft_cond_wait_r(&c, &r, WEFT_FOREVER), EPERM);
    CHECK_EQ(weft_cond_wait_until_r(&c, &r, WEFT_DEADLINE_NEVER), EPERM);
    CHECK_EQ(weft_cond_wait_for_r(&c, &r, always, NULL, WEFT_FOREVER), EPERM);
    CHECK_EQ(weft_cond_wait_for_until_r(&c, &r, always, NULL, WEFT_DEADLINE_NEVER), EPERM);
    CHECK(weft_rlock_locked(&r));
    CHECK(!weft_rlock_owned(&r));
    CHECK(!weft_cond_waiting(&c));
    CHECK_EQ(weft_event_set(&may_release), 0);
    pthread_join(th, NULL);
    CHECK(!weft_rlock_locked(&r));
}

static void timeouts_never_early(void)
{
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    CHECK_EQ(weft_cond_wait(&cond, &lock, 0), ETIMEDOUT);
    CHECK(weft_lock_locked(&lock));
    CHECK_EQ(weft_cond_wait_until(&cond, &lock, weft_deadline_in(0)), ETIMEDOUT);
    CHECK_EQ(weft_cond_wait_until(&cond, &lock, (weft_deadline){0}), ETIMEDOUT); /* long past */
    int64_t timeouts[] = {WEFT_MS(1), WEFT_MS(10), WEFT_MS(30)};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_cond_wait(&cond, &lock, timeouts[i]), ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= timeouts[i]);
        CHECK(weft_lock_locked(&lock));
        weft_deadline d = weft_deadline_in(timeouts[i]);
        CHECK_EQ(weft_cond_wait_until(&cond, &lock, d), ETIMEDOUT);
        CHECK(weft_now_ns() >= d.ns);
    }
    CHECK_EQ(cond.waiters, 0);
    CHECK_EQ(weft_lock_release(&lock), 0);
    CHECK(!weft_lock_locked(&lock));
}

/* ---- FIFO, exact counts, no stolen wakeup -------------------------------------- */

enum { MAX_WAITERS = 16 };
static int waiting;                  /* under `lock`: threads inside a wait */
static int entered;                  /* under `lock`: threads that began a wait */
static int woken_order[MAX_WAITERS]; /* under `lock`: ids in the order they returned 0 */
static int n_woken;
static int n_timed_out;

typedef struct {
    int id;
    int64_t timeout;
    int result;
    long sleeps; /* voluntary context switches during the wait */
    _Atomic pid_t tid;
} waiter_arg;

static void *waiter(void *p)
{
    waiter_arg *a = p;
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    waiting++;
    entered++;
    a->result = weft_cond_wait(&cond, &lock, a->timeout);
    CHECK(weft_lock_locked(&lock)); /* always returns holding the lock */
    waiting--;
    if (a->result == 0)
        woken_order[n_woken++] = a->id;
    else
        n_timed_out++;
    CHECK_EQ(weft_lock_release(&lock), 0);
    return NULL;
}

static int locked_read(const int *v)
{
    weft_lock_acquire(&lock);
    int x = *v;
    weft_lock_release(&lock);
    return x;
}

static void reset_counts(void)
{
    waiting = entered = n_woken = n_timed_out = 0;
}

/* Starts waiter i only once waiter i-1 is inside its wait: arrival order is known. */
static void start_waiters_in_order(pthread_t *th, waiter_arg *args, int n)
{
    for (int i = 0; i < n; i++) {
        CHECK_EQ(pthread_create(&th[i], NULL, waiter, &args[i]), 0);
        EVENTUALLY(locked_read(&entered) == i + 1);
    }
}

static void notify_wakes_oldest_exactly(void)
{
    enum { N = 5 };
    reset_counts();
    pthread_t th[N];
    waiter_arg args[N];
    for (int i = 0; i < N; i++)
        args[i] = (waiter_arg){.id = i, .timeout = WEFT_FOREVER};
    start_waiters_in_order(th, args, N);

    CHECK_EQ(weft_cond_notify(&cond, 0), 0); /* wakes none */
    CHECK_EQ(weft_cond_notify(&cond, 1), 0);
    EVENTUALLY(locked_read(&n_woken) == 1);
    usleep(20000); /* give an extra (wrong) wakeup time to show */
    CHECK_EQ(locked_read(&n_woken), 1);
    CHECK_EQ(woken_order[0], 0); /* the oldest */

    CHECK_EQ(weft_cond_notify(&cond, 2), 0);
    EVENTUALLY(locked_read(&n_woken) == 3);
    usleep(20000);
    CHECK_EQ(locked_read(&n_woken), 3);
    CHECK(woken_order[1] + woken_order[2] == 1 + 2); /* the next two, in either order */

    CHECK_EQ(weft_cond_notify(&cond, 100), 0); /* more than wait: wakes the rest */
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(n_woken, N);
    CHECK_EQ(n_timed_out, 0);
    CHECK_EQ(cond.waiters, 0);
}

/* glibc bug 25847's shape: A waits, notify(1), then B waits. The notify belongs
 * to A; B must not take it, however the threads are scheduled. */
static void no_stolen_wakeup(void)
{
    for (int round = 0; round < 20; round++) {
        reset_counts();
        pthread_t a, b;
        waiter_arg arg_a = {.id = 0, .timeout = WEFT_FOREVER};
        waiter_arg arg_b = {.id = 1, .timeout = WEFT_MS(20)};
        CHECK_EQ(pthread_create(&a, NULL, waiter, &arg_a), 0);
        EVENTUALLY(locked_read(&waiting) == 1);
        CHECK_EQ(weft_lock_acquire(&lock), 0);
        CHECK_EQ(weft_cond_notify(&cond, 1), 0);
        /* B starts waiting before A can even re-take the lock. */
        CHECK_EQ(pthread_create(&b, NULL, waiter, &arg_b), 0);
        CHECK_EQ(weft_lock_release(&lock), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        CHECK_EQ(arg_a.result, 0);
        CHECK_EQ(arg_b.result, ETIMEDOUT);
        CHECK_EQ(cond.waiters, 0);
    }
}

/* A waiter whose timeout passes is unqueued: the next notify goes to a waiter
 * still there, not to the departed one. */
static void timed_out_waiter_leaves_queue(void)
{
    reset_counts();
    pthread_t th[2];
    waiter_arg args[2] = {{.id = 0, .timeout = WEFT_MS(10)}, {.id = 1, .timeout = WEFT_FOREVER}};
    start_waiters_in_order(th, args, 2);
    pthread_join(th[0], NULL);
    CHECK_EQ(args[0].result, ETIMEDOUT);
    CHECK_EQ(weft_cond_notify(&cond, 1), 0);
    pthread_join(th[1], NULL);
    CHECK_EQ(args[1].result, 0);
    CHECK_EQ(cond.waiters, 0);
}

static void notify_without_holding_lock(void)
{
    reset_counts();
    pthread_t th;
    waiter_arg arg = {.id = 0, .timeout = WEFT_FOREVER};
    start_waiters_in_order(&th, &arg, 1);
    CHECK(!weft_lock_locked(&lock));
    CHECK_EQ(weft_cond_notify(&cond, 1), 0);
    pthread_join(th, NULL);
    CHECK_EQ(arg.result, 0);
}

/* weft_cond_waiting counts the queued waiters: a waiter from before it releases
 * the lock until a notify picks it or its timeout passes (not while it re-takes
 * the lock after). */
static weft_rlock wait_rlock = WEFT_RLOCK_INIT;
static weft_cond wait_rcond = WEFT_COND_INIT;

static void *rlock_waiter(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rlock_acquire(&wait_rlock), 0);
    CHECK_EQ(weft_cond_wait_r(&wait_rcond, &wait_rlock, WEFT_FOREVER), 0);
    CHECK_EQ(weft_rlock_release(&wait_rlock), 0);
    return NULL;
}

static void waiting_snapshot(void)
{
    CHECK(!weft_cond_waiting(NULL));
    CHECK(!weft_cond_waiting(&cond));
    enum { N = 3 };
    reset_counts();
    pthread_t th[N];
    waiter_arg args[N];
    for (int i = 0; i < N; i++)
        args[i] = (waiter_arg){.id = i, .timeout = WEFT_FOREVER};
    /* A waiter is queued before it releases the lock, so once `entered` reads
     * (under the lock) that it began, it counts. */
    start_waiters_in_order(th, args, N);
    CHECK(weft_cond_waiting(&cond));
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    CHECK_EQ(weft_cond_notify(&cond, N - 1), 0);
    CHECK(weft_cond_waiting(&cond)); /* one left */
    CHECK_EQ(weft_cond_notify(&cond, 1), 0);
    CHECK(!weft_cond_waiting(&cond)); /* all notified, though they still wait for the lock */
    CHECK_EQ(weft_lock_release(&lock), 0);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].result, 0);
    }
    CHECK(!weft_cond_waiting(&cond));

    /* A timed-out waiter leaves no count behind. */
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    CHECK_EQ(weft_cond_wait(&cond, &lock, WEFT_MS(1)), ETIMEDOUT);
    CHECK(!weft_cond_waiting(&cond));
    CHECK_EQ(weft_lock_release(&lock), 0);

    /* notify_all takes every waiter off the count at once. */
    reset_counts();
    start_waiters_in_order(th, args, 2);
    CHECK(weft_cond_waiting(&cond));
    CHECK_EQ(weft_cond_notify_all(&cond), 0);
    CHECK(!weft_cond_waiting(&cond));
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);

    /* The rlock variant counts alike. */
    CHECK_EQ(pthread_create(&th[0], NULL, rlock_waiter, NULL), 0);
    EVENTUALLY(weft_cond_waiting(&wait_rcond));
    CHECK_EQ(weft_rlock_acquire(&wait_rlock), 0); /* it released the rlock to wait */
    CHECK_EQ(weft_cond_notify(&wait_rcond, 1), 0);
    CHECK(!weft_cond_waiting(&wait_rcond));
    CHECK_EQ(weft_rlock_release(&wait_rlock), 0);
    pthread_join(th[0], NULL);
    CHECK(!weft_cond_waiting(&wait_rcond));
}

/* ---- notify_all ------------------------------------------------------------------ */

static int inside; /* under `lock`: checks mutual exclusion after the wake */

static void *all_waiter(void *p)
{
    waiter_arg *a = p;
    struct rusage before, after;
    atomic_store(&a->tid, (pid_t)syscall(SYS_gettid));
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    waiting++;
    getrusage(RUSAGE_THREAD, &before);
    a->result = weft_cond_wait(&cond, &lock, WEFT_FOREVER);
    getrusage(RUSAGE_THREAD, &after);
    /* How many times this thread slept during the wait (and the re-take). */
    a->sleeps = after.ru_nvcsw - before.ru_nvcsw;
    CHECK_EQ(inside, 0);
    inside = 1;
    waiting--;
    n_woken++;
    inside = 0;
    CHECK_EQ(weft_lock_release(&lock), 0);
    return NULL;
}

static bool all_asleep(waiter_arg *args, int n)
{
    for (int i = 0; i < n; i++)
        if (!wf_test_task_sleeps(atomic_load(&args[i].tid)))
            return false;
    return true;
}

static void notify_all_wakes_everyone(void)
{
    enum { N = 8 };
    for (int round = 0; round < 3; round++) {
        reset_counts();
        pthread_t th[N];
        waiter_arg args[N];
        for (int i = 0; i < N; i++) {
            args[i] = (waiter_arg){.id = i};
            CHECK_EQ(pthread_create(&th[i], NULL, all_waiter, &args[i]), 0);
        }
        /* All queued, and all asleep in the wait (not still spinning in it). */
        EVENTUALLY(atomic_load_explicit(&cond.waiters, memory_order_relaxed) == N &&
                   all_asleep(args, N));
        /* round 0: notify holding the lock (the usual way); others: not holding it */
        if (round == 0)
            CHECK_EQ(weft_lock_acquire(&lock), 0);
        CHECK_EQ(weft_cond_notify_all(&cond), 0);
        CHECK_EQ(cond.waiters, 0); /* all taken at once */
        if (round == 0) {
            usleep(200000);
            CHECK_EQ(n_woken, 0); /* they wait for the lock we hold */
            CHECK_EQ(weft_lock_release(&lock), 0);
        }
        for (int i = 0; i < N; i++)
            pthread_join(th[i], NULL);
        CHECK_EQ(n_woken, N);
        CHECK(!weft_lock_locked(&lock));
        /* Woken together, they do not spin on the lock held for 200 ms: each
         * yields a few times, then sleeps on it, so each slept twice (the wait,
         * then the lock). One that spun or yielded until the lock was free would
         * have slept only once. Other sleeps (a sanitizer's runtime blocking on
         * its own locks) only add. */
        if (round == 0)
            for (int i = 0; i < N; i++)
                CHECK(args[i].sleeps >= 2);
    }
}

/* Two conditions whose waiters share one internal queue (found by the queue's
 * address hash, which takes the hash's top bits: a pair equal in its top 10 bits
 * shares a queue for any queue count up to 1024). A notify_all of one, waking its
 * sleepers with one wake of the queue's broadcast word, wakes the other's sleeper
 * too; that one must take it as spurious and wait on, until its own notify. */
static weft_cond neighbours[2048];

static void *neighbour_waiter(void *p)
{
    waiter_arg *a = p;
    atomic_store(&a->tid, (pid_t)syscall(SYS_gettid));
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    waiting++;
    a->result = weft_cond_wait(&neighbours[a->id], &lock, WEFT_FOREVER);
    waiting--;
    n_woken++;
    CHECK_EQ(weft_lock_release(&lock), 0);
    return NULL;
}

static void broadcast_absorbed_by_neighbours(void)
{
    int x = -1, y = -1;
    for (int i = 0; i < 2048 && y < 0; i++)
        for (int j = i + 1; j < 2048; j++)
            if (wf_hash_address(&neighbours[i], 10) == wf_hash_address(&neighbours[j], 10)) {
                x = i, y = j;
                break;
            }
    CHECK(y >= 0); /* 2048 addresses in 1024 bins: a pair always exists */
    reset_counts();
    pthread_t th[3];
    waiter_arg args[3] = {{.id = x}, {.id = y}, {.id = y}};
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, neighbour_waiter, &args[i]), 0);
    EVENTUALLY(locked_read(&waiting) == 3 && all_asleep(args, 3));
    CHECK_EQ(weft_cond_notify_all(&neighbours[y]), 0); /* two sleepers: one broadcast */
    pthread_join(th[1], NULL);
    pthread_join(th[2], NULL);
    CHECK_EQ(locked_read(&n_woken), 2);
    /* x's waiter took the broadcast as spurious: still queued, back asleep. */
    EVENTUALLY(all_asleep(args, 1));
    CHECK(weft_cond_waiting(&neighbours[x]));
    CHECK_EQ(locked_read(&n_woken), 2);
    CHECK_EQ(weft_cond_notify(&neighbours[x], 1), 0);
    pthread_join(th[0], NULL);
    CHECK_EQ(n_woken, 3);
    CHECK_EQ(args[0].result, 0);
    CHECK(!weft_cond_waiting(&neighbours[x]) && !weft_cond_waiting(&neighbours[y]));
}

/* ---- wait_for ------------------------------------------------------------------- */

static int value; /* under `lock` */

static bool value_reached(void *arg)
{
    CHECK(weft_lock_locked(&lock)); /* evaluated with the lock held */
    return value >= *(int *)arg;
}

static void *bump_value(void *arg)
{
    int steps = *(int *)arg;
    for (int i = 0; i < steps; i++) {
        usleep(2000);
        CHECK_EQ(weft_lock_acquire(&lock), 0);
        value++;
        CHECK_EQ(weft_cond_notify_all(&cond), 0); /* each notify but the last: pred false */
        CHECK_EQ(weft_lock_release(&lock), 0);
    }
    return NULL;
}

static void wait_for_predicate(void)
{
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    value = 5;
    int target = 5;
    CHECK_EQ(weft_cond_wait_for(&cond, &lock, value_reached, &target, 0), 0); /* true at once */
    CHECK_EQ(weft_cond_wait_for(&cond, &lock, value_reached, &target, WEFT_FOREVER), 0);
    target = 6;
    CHECK_EQ(weft_cond_wait_for(&cond, &lock, value_reached, &target, 0), ETIMEDOUT);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_cond_wait_for(&cond, &lock, value_reached, &target, WEFT_MS(20)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(20));
    CHECK(weft_lock_locked(&lock));

    /* Five notifies, only the last makes it true. */
    value = 0;
    target = 5;
    int steps = 5;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, bump_value, &steps), 0);
    CHECK_EQ(weft_cond_wait_for(&cond, &lock, value_reached, &target, WEFT_FOREVER), 0);
    CHECK_EQ(value, 5);
    CHECK_EQ(weft_lock_release(&lock), 0);
    pthread_join(th, NULL);

    /* The deadline variant, with notifies that never make it true. */
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    value = 0;
    target = 1000;
    steps = 3;
    CHECK_EQ(pthread_create(&th, NULL, bump_value, &steps), 0);
    weft_deadline d = weft_deadline_in(WEFT_MS(30));
    CHECK_EQ(weft_cond_wait_for_until(&cond, &lock, value_reached, &target, d), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    CHECK_EQ(weft_lock_release(&lock), 0);
    pthread_join(th, NULL);
}

/* ---- the rlock variants ---------------------------------------------------------- */

static weft_rlock rlock = WEFT_RLOCK_INIT;
static int rvalue; /* under `rlock` */

static bool rvalue_set(void *arg)
{
    (void)arg;
    CHECK(weft_rlock_owned(&rlock));
    return rvalue != 0;
}

static void *set_rvalue(void *arg)
{
    (void)arg;
    /* Possible only if the waiter released the rlock fully. */
    CHECK_EQ(weft_rlock_acquire(&rlock), 0);
    CHECK_EQ(weft_rlock_acquire(&rlock), 0);
    rvalue = 1;
    CHECK_EQ(weft_cond_notify(&cond, 1), 0);
    CHECK_EQ(weft_rlock_release(&rlock), 0);
    CHECK_EQ(weft_rlock_release(&rlock), 0);
    return NULL;
}

static void rlock_released_fully_and_restored(void)
{
    for (int flavour = 0; flavour < 4; flavour++) {
        for (int i = 0; i < 3; i++)
            CHECK_EQ(weft_rlock_acquire(&rlock), 0);
        rvalue = 0;
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, set_rvalue, NULL), 0);
        switch (flavour) {
        case 0:
            while (!rvalue)
                CHECK_EQ(weft_cond_wait_r(&cond, &rlock, WEFT_FOREVER), 0);
            break;
        case 1:
            while (!rvalue)
                CHECK_EQ(weft_cond_wait_until_r(&cond, &rlock, WEFT_DEADLINE_NEVER), 0);
            break;
        case 2:
            CHECK_EQ(weft_cond_wait_for_r(&cond, &rlock, rvalue_set, NULL, WEFT_FOREVER), 0);
            break;
        default:
            CHECK_EQ(weft_cond_wait_for_until_r(&cond, &rlock, rvalue_set, NULL,
                                                WEFT_DEADLINE_NEVER),
                     0);
            break;
        }
        pthread_join(th, NULL);
        CHECK(weft_rlock_owned(&rlock));
        CHECK_EQ(rlock.count, 3); /* the recursion count is back */
        for (int i = 0; i < 3; i++)
            CHECK_EQ(weft_rlock_release(&rlock), 0);
        CHECK_EQ(weft_rlock_release(&rlock), EPERM);
        CHECK(!weft_rlock_locked(&rlock));
    }

    /* Timeouts: never early, and the count is restored too. */
    CHECK_EQ(weft_rlock_acquire(&rlock), 0);
    CHECK_EQ(weft_rlock_acquire(&rlock), 0);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_cond_wait_r(&cond, &rlock, WEFT_MS(10)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
    CHECK_EQ(weft_cond_wait_for_r(&cond, &rlock, rvalue_set, NULL, 0), 0); /* rvalue is 1 */
    rvalue = 0;
    weft_deadline d = weft_deadline_in(WEFT_MS(10));
    CHECK_EQ(weft_cond_wait_for_until_r(&cond, &rlock, rvalue_set, NULL, d), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    CHECK_EQ(rlock.count, 2);
    CHECK_EQ(weft_rlock_release(&rlock), 0);
    CHECK_EQ(weft_rlock_release(&rlock), 0);
    CHECK(!weft_rlock_locked(&rlock));
}

/* notify_all with the rlock: the woken sleepers re-take the rlock's inner lock. */
static int r_woken;

static void *rlock_all_waiter(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rlock_acquire(&rlock), 0);
    CHECK_EQ(weft_rlock_acquire(&rlock), 0);
    waiting++;
    while (!rvalue)
        CHECK_EQ(weft_cond_wait_r(&cond, &rlock, WEFT_FOREVER), 0);
    CHECK_EQ(rlock.count, 2);
    r_woken++;
    CHECK_EQ(weft_rlock_release(&rlock), 0);
    CHECK_EQ(weft_rlock_release(&rlock), 0);
    return NULL;
}

static void rlock_notify_all(void)
{
    enum { N = 6 };
    reset_counts();
    rvalue = 0;
    r_woken = 0;
    pthread_t th[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, rlock_all_waiter, NULL), 0);
    for (;;) {
        CHECK_EQ(weft_rlock_acquire(&rlock), 0);
        int w = waiting;
        if (w == N) {
            rvalue = 1;
            CHECK_EQ(weft_cond_notify_all(&cond), 0);
        }
        CHECK_EQ(weft_rlock_release(&rlock), 0);
        if (w == N)
            break;
        usleep(1000);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(r_woken, N);
    CHECK(!weft_rlock_locked(&rlock));
}

/* Several conditions sharing one lock (the two-condition bounded buffer): a
 * notify reaches only its own condition's waiters. */
static weft_cond other = WEFT_COND_INIT;

static void *other_waiter(void *p)
{
    waiter_arg *a = p;
    CHECK_EQ(weft_lock_acquire(&lock), 0);
    waiting++;
    entered++;
    a->result = weft_cond_wait(&other, &lock, a->timeout);
    waiting--;
    CHECK_EQ(weft_lock_release(&lock), 0);
    return NULL;
}

static void conditions_are_separate(void)
{
    reset_counts();
    pthread_t a, b;
    waiter_arg arg_a = {.id = 0, .timeout = WEFT_FOREVER};
    waiter_arg arg_b = {.id = 1, .timeout = WEFT_MS(30)};
    CHECK_EQ(pthread_create(&a, NULL, waiter, &arg_a), 0);
    EVENTUALLY(locked_read(&waiting) == 1);
    CHECK_EQ(pthread_create(&b, NULL, other_waiter, &arg_b), 0);
    EVENTUALLY(locked_read(&entered) == 2);
    CHECK_EQ(weft_cond_notify_all(&cond), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK_EQ(arg_a.result, 0);
    CHECK_EQ(arg_b.result, ETIMEDOUT);
    CHECK_EQ(cond.waiters, 0);
    CHECK_EQ(other.waiters, 0);
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(bad_input), TEST(wait_without_lock_is_eperm),
          TEST(wait_r_with_rlock_of_another_thread), TEST(waiting_snapshot),
          TEST(timeouts_never_early), TEST(notify_wakes_oldest_exactly), TEST(no_stolen_wakeup),
          TEST(timed_out_waiter_leaves_queue), TEST(notify_without_holding_lock),
          TEST(notify_all_wakes_everyone), TEST(wait_for_predicate),
          TEST(rlock_released_fully_and_restored), TEST(rlock_notify_all),
          TEST(conditions_are_separate), TEST(broadcast_absorbed_by_neighbours))
