/* A weft user's program under ThreadSanitizer: built with -fsanitize=thread and
 * linked to an installed libweft.so (plain or itself built with TSan), as weft's
 * users stress-test their own code. Each scenario is one run: `user NAME`.
 *
 * The correct scenarios hand data from one thread to another through one weft
 * primitive each, with plain (non-atomic) accesses on both sides: TSan must
 * report nothing, which it does only if it sees every handoff the library makes.
 * The faulty ones must be reported: an unprotected counter bumped by two threads
 * (pthreads or weft threads), and two weft locks (or rwlocks, write/write and
 * read/write) taken in both orders (with detect_deadlocks=1). run.sh says which
 * is which. */
#include "weft.h"
#include "scenario.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ITEMS = 200, COUNTER_THREADS = 4, COUNTER_ROUNDS = 2000 };

/* A message: written by its sender, read (and freed) by its receiver. */
typedef struct msg {
    long payload[4];
} msg;

static msg *msg_new(long v)
{
    msg *m = malloc(sizeof *m);
    CHECK(m);
    for (int i = 0; i < 4; i++)
        m->payload[i] = v + i;
    return m;
}

static void msg_take(msg *m, long v)
{
    for (int i = 0; i < 4; i++)
        CHECK(m->payload[i] == v + i);
    free(m);
}

static pthread_t spawn(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, arg) == 0);
    return t;
}

/* ---- lock, rlock, cond ---------------------------------------------------------- */

static weft_lock counter_lock = WEFT_LOCK_INIT;
static weft_rlock counter_rlock = WEFT_RLOCK_INIT;
static long counter;

static void *count_locked(void *arg)
{
    (void)arg;
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        weft_lock_acquire(&counter_lock);
        counter++;
        weft_lock_release(&counter_lock);
    }
    return NULL;
}

static void *count_rlocked(void *arg)
{
    (void)arg;
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        weft_rlock_acquire(&counter_rlock);
        weft_rlock_acquire(&counter_rlock);
        counter++;
        weft_rlock_release(&counter_rlock);
        weft_rlock_release(&counter_rlock);
    }
    return NULL;
}

static void run_counter(void *(*fn)(void *))
{
    pthread_t t[COUNTER_THREADS];
    for (int i = 0; i < COUNTER_THREADS; i++)
        t[i] = spawn(fn, NULL);
    for (int i = 0; i < COUNTER_THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK(counter == (long)COUNTER_THREADS * COUNTER_ROUNDS);
}

static weft_lock cond_lock = WEFT_LOCK_INIT;
static weft_cond cond = WEFT_COND_INIT;
static msg *cond_slot;

static void *cond_producer(void *arg)
{
    (void)arg;
    for (long i = 0; i < ITEMS; i++) {
        msg *m = msg_new(i);
        weft_lock_acquire(&cond_lock);
        while (cond_slot)
            weft_cond_wait(&cond, &cond_lock, WEFT_FOREVER);
        cond_slot = m;
        weft_cond_notify_all(&cond);
        weft_lock_release(&cond_lock);
    }
    return NULL;
}

static void scenario_cond(void)
{
    pthread_t t = spawn(cond_producer, NULL);
    for (long i = 0; i < ITEMS; i++) {
        weft_lock_acquire(&cond_lock);
        while (!cond_slot)
            weft_cond_wait(&cond, &cond_lock, WEFT_FOREVER);
        msg *m = cond_slot;
        cond_slot = NULL;
        weft_cond_notify_all(&cond);
        weft_lock_release(&cond_lock);
        msg_take(m, i);
    }
    pthread_join(t, NULL);
}

/* ---- rwlock --------------------------------------------------------------------- */

enum { RW_READERS = 3, RW_WRITERS = 2, RW_ROUNDS = 300 };
static weft_rwlock rw = WEFT_RWLOCK_INIT;
static long rw_data[4] = {0, 1, 2, 3}; /* written under the write hold, read under read holds */
static long rw_seen[RW_READERS]; /* each reader's own cell, written under a read hold and
                                  * read under the write hold: readers -> writer */
static long rw_writes;

/* Under a read hold: what the last writer wrote, whole; and our cell. */
static void rw_read_section(long me)
{
    for (int k = 1; k < 4; k++)
        CHECK(rw_data[k] == rw_data[0] + k);
    rw_seen[me] = rw_data[0];
}

/* Under the write hold: the readers' cells, then new data. */
static void rw_write_section(void)
{
    long newest = 0;
    for (int r = 0; r < RW_READERS; r++)
        newest = rw_seen[r] > newest ? rw_seen[r] : newest;
    CHECK(newest <= rw_data[0]);
    rw_data[0] = ++rw_writes * 10;
    for (int k = 1; k < 4; k++)
        rw_data[k] = rw_data[0] + k;
}

static void *rw_reader(void *arg)
{
    long me = (long)(intptr_t)arg;
    for (int i = 0; i < RW_ROUNDS; i++) {
        switch (i % 4) {
        case 0: CHECK(weft_rwlock_read_acquire(&rw) == 0); break;
        case 1: CHECK(weft_rwlock_read_acquire_for(&rw, WEFT_SEC(30)) == 0); break;
        case 2:
            CHECK(weft_rwlock_read_acquire_until(&rw, weft_deadline_in(WEFT_SEC(30))) == 0);
            break;
        default:
            if (!weft_rwlock_read_try_acquire(&rw))
                CHECK(weft_rwlock_read_acquire(&rw) == 0);
        }
        rw_read_section(me);
        CHECK(weft_rwlock_read_release(&rw) == 0);
    }
    return NULL;
}

static void *rw_writer(void *arg)
{
    (void)arg;
    for (int i = 0; i < RW_ROUNDS; i++) {
        switch (i % 5) {
        case 0: CHECK(weft_rwlock_write_acquire(&rw) == 0); break;
        case 1: CHECK(weft_rwlock_write_acquire_for(&rw, WEFT_SEC(30)) == 0); break;
        case 2:
            CHECK(weft_rwlock_write_acquire_until(&rw, weft_deadline_in(WEFT_SEC(30))) == 0);
            break;
        case 3:
            if (!weft_rwlock_write_try_acquire(&rw))
                CHECK(weft_rwlock_write_acquire(&rw) == 0);
            break;
        default:
            /* read, then upgrade when we are the only reader */
            CHECK(weft_rwlock_read_acquire(&rw) == 0);
            if (!weft_rwlock_try_upgrade(&rw)) {
                CHECK(weft_rwlock_read_release(&rw) == 0);
                CHECK(weft_rwlock_write_acquire(&rw) == 0);
            }
        }
        rw_write_section();
        if (i % 3 == 0) {
            /* keep reading what we wrote, with the readers let in */
            CHECK(weft_rwlock_downgrade(&rw) == 0);
            for (int k = 1; k < 4; k++)
                CHECK(rw_data[k] == rw_data[0] + k);
            CHECK(weft_rwlock_read_release(&rw) == 0);
        } else {
            CHECK(weft_rwlock_write_release(&rw) == 0);
        }
    }
    return NULL;
}

static void *rw_slow_reader(void *arg)
{
    long me = (long)(intptr_t)arg;
    CHECK(weft_rwlock_read_acquire(&rw) == 0); /* queued behind main's write hold */
    rw_read_section(me);
    struct timespec ts = {0, 10 * 1000 * 1000}; /* main's writer waits for us */
    nanosleep(&ts, NULL);
    CHECK(weft_rwlock_read_release(&rw) == 0);
    return NULL;
}

static void scenario_rwlock(void)
{
    /* Contended: readers and writers in a loop (the word, the table, sleeps). */
    pthread_t t[RW_READERS + RW_WRITERS];
    for (long i = 0; i < RW_READERS; i++)
        t[i] = spawn(rw_reader, (void *)(intptr_t)i);
    for (int i = 0; i < RW_WRITERS; i++)
        t[RW_READERS + i] = spawn(rw_writer, NULL);
    for (int i = 0; i < RW_READERS + RW_WRITERS; i++)
        pthread_join(t[i], NULL);
    CHECK(rw_writes == (long)RW_WRITERS * RW_ROUNDS);
    /* Slow for sure: readers asleep behind a writer, then a writer asleep until
     * the readers leave. */
    for (int round = 0; round < 3; round++) {
        CHECK(weft_rwlock_write_acquire(&rw) == 0);
        for (long i = 0; i < RW_READERS; i++)
            t[i] = spawn(rw_slow_reader, (void *)(intptr_t)i);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        rw_write_section();
        CHECK(weft_rwlock_write_release(&rw) == 0);
        nanosleep(&ts, NULL); /* let them in */
        CHECK(weft_rwlock_write_acquire(&rw) == 0);
        rw_write_section();
        CHECK(weft_rwlock_write_release(&rw) == 0);
        for (int i = 0; i < RW_READERS; i++)
            pthread_join(t[i], NULL);
    }
}

/* ---- sem, event, barrier, once ---------------------------------------------------- */

static weft_sem sem = WEFT_SEM_INIT(0);
static msg *sem_slots[ITEMS];

static void *sem_producer(void *arg)
{
    (void)arg;
    for (long i = 0; i < ITEMS; i++) {
        sem_slots[i] = msg_new(i);
        weft_sem_release(&sem, 1);
    }
    return NULL;
}

static void scenario_sem(void)
{
    pthread_t t = spawn(sem_producer, NULL);
    for (long i = 0; i < ITEMS; i++) {
        CHECK(weft_sem_acquire(&sem) == 0);
        msg_take(sem_slots[i], i);
    }
    pthread_join(t, NULL);
}

static weft_event event = WEFT_EVENT_INIT;
static msg *event_slot;

static void *event_waiter(void *arg)
{
    (void)arg;
    CHECK(weft_event_wait(&event, WEFT_FOREVER) == 0);
    msg_take(event_slot, 7);
    return NULL;
}

static void scenario_event(void)
{
    pthread_t t = spawn(event_waiter, NULL);
    struct timespec ts = {0, 20 * 1000 * 1000}; /* let the waiter sleep: the slow path */
    nanosleep(&ts, NULL);
    event_slot = msg_new(7);
    weft_event_set(&event);
    pthread_join(t, NULL);
}

enum { PARTIES = 3, CYCLES = 50 };
static weft_barrier barrier = WEFT_BARRIER_INIT(PARTIES);
static long barrier_cells[PARTIES];

static void *barrier_party(void *arg)
{
    long me = (long)(intptr_t)arg;
    for (long c = 1; c <= CYCLES; c++) {
        barrier_cells[me] = c;
        CHECK(weft_barrier_wait(&barrier, WEFT_FOREVER, NULL) == 0);
        for (int i = 0; i < PARTIES; i++)
            CHECK(barrier_cells[i] == c);
        CHECK(weft_barrier_wait(&barrier, WEFT_FOREVER, NULL) == 0);
    }
    return NULL;
}

static void scenario_barrier(void)
{
    pthread_t t[PARTIES];
    for (long i = 0; i < PARTIES; i++)
        t[i] = spawn(barrier_party, (void *)(intptr_t)i);
    for (int i = 0; i < PARTIES; i++)
        pthread_join(t[i], NULL);
}

static weft_once once = WEFT_ONCE_INIT;
static msg *once_value;

static void once_init(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 10 * 1000 * 1000}; /* the others wait in the slow path */
    nanosleep(&ts, NULL);
    once_value = msg_new(3);
}

static void *once_user(void *arg)
{
    (void)arg;
    CHECK(weft_once_call(&once, once_init, NULL) == 0);
    CHECK(once_value->payload[0] == 3);
    return NULL;
}

static void scenario_once(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = spawn(once_user, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    msg_take(once_value, 3);
}

/* ---- threads and timers ------------------------------------------------------------ */

static void *make_msg(void *arg)
{
    msg *m = arg;
    for (int i = 0; i < 4; i++)
        m->payload[i] = 11 + i;
    return m;
}

static void scenario_join(void)
{
    for (int round = 0; round < 3; round++) {
        weft_thread th;
        msg *m = malloc(sizeof *m);
        CHECK(m);
        CHECK(weft_thread_start(&th, make_msg, m, NULL) == 0);
        void *res = NULL;
        /* round 0: pthread_join does the waiting; 1: a timed join; 2: join_all */
        if (round < 2) {
            CHECK(weft_thread_join(th, round == 0 ? WEFT_FOREVER : WEFT_SEC(30), &res) == 0);
            CHECK(res == m);
        } else {
            CHECK(weft_thread_join_all(WEFT_SEC(30)) == 0);
        }
        weft_thread_release(th);
        msg_take(m, 11);
    }
}

static msg *timer_slot;
static weft_event timer_started = WEFT_EVENT_INIT;

static void timer_fn(void *arg)
{
    (void)arg;
    weft_event_set(&timer_started);
    struct timespec ts = {0, 30 * 1000 * 1000}; /* cancel waits for us */
    nanosleep(&ts, NULL);
    timer_slot = msg_new(5);
}

static void scenario_timer_cancel(void)
{
    static weft_timer tm = WEFT_TIMER_INIT;
    CHECK(weft_timer_start(&tm, 0, timer_fn, NULL) == 0);
    CHECK(weft_event_wait(&timer_started, WEFT_FOREVER) == 0);
    CHECK(weft_timer_cancel(&tm) == EBUSY); /* returns once timer_fn has returned */
    msg_take(timer_slot, 5);
}

static msg *timer_arg_slot;
static weft_sem timer_done = WEFT_SEM_INIT(0);

static void timer_reads(void *arg)
{
    msg_take(arg, 9); /* written before start: start -> fire */
    weft_sem_release(&timer_done, 1);
}

static void scenario_timer_start(void)
{
    static weft_timer tm = WEFT_TIMER_INIT;
    timer_arg_slot = msg_new(9);
    CHECK(weft_timer_start(&tm, WEFT_MS(5), timer_reads, timer_arg_slot) == 0);
    CHECK(weft_sem_acquire(&timer_done) == 0);
}

/* ---- queues ------------------------------------------------------------------------ */

struct queue_job {
    weft_queue *q;
    weft_simplequeue *sq;
    int kind;
};

static void *queue_producer(void *arg)
{
    struct queue_job *j = arg;
    for (long i = 0; i < ITEMS; i++) {
        int r;
        if (j->sq)
            r = weft_simplequeue_put(j->sq, msg_new(i));
        else if (j->kind == WEFT_PRIORITY)
            r = weft_queue_put_prio(j->q, i % 7, msg_new(i), WEFT_FOREVER);
        else if (i % 2)
            r = weft_queue_put(j->q, msg_new(i), WEFT_FOREVER);
        else {
            void *two[2] = {msg_new(i), msg_new(i + 1)}; /* a batch of two */
            i++;
            /* put_many waits only for room for the first: put the rest again */
            ssize_t moved = 0;
            while (moved < 2) {
                ssize_t m = weft_queue_put_many(j->q, two + moved, 2 - (size_t)moved, WEFT_FOREVER);
                CHECK(m > 0);
                moved += m;
            }
            r = 0;
        }
        CHECK(r == 0);
    }
    return NULL;
}

/* maxsize 4, FIFO: the ring; 0: the linked queue (liburcu); LIFO / PRIORITY: the
 * locked queues; simple: the SimpleQueue. */
static void run_queue(size_t maxsize, int kind, bool simple)
{
    struct queue_job j = {NULL, NULL, kind};
    if (simple)
        CHECK(weft_simplequeue_create(&j.sq) == 0);
    else
        CHECK(weft_queue_create(&j.q, maxsize, kind) == 0);
    pthread_t t = spawn(queue_producer, &j);
    long sum = 0;
    for (long got = 0; got < ITEMS;) {
        void *items[3];
        long n = 1;
        if (j.sq)
            CHECK(weft_simplequeue_get(j.sq, items, WEFT_FOREVER) == 0);
        else if (got % 3)
            CHECK(weft_queue_get(j.q, items, WEFT_FOREVER) == 0);
        else
            CHECK((n = weft_queue_get_many(j.q, items, 3, WEFT_FOREVER)) > 0);
        for (long k = 0; k < n; k++) {
            msg *m = items[k];
            long v = m->payload[0];
            sum += v;
            msg_take(m, v);
        }
        got += n;
    }
    CHECK(sum == (long)ITEMS * (ITEMS - 1) / 2);
    pthread_join(t, NULL);
    if (j.sq)
        CHECK(weft_simplequeue_destroy(j.sq) == 0);
    else
        CHECK(weft_queue_destroy(j.q) == 0);
}

/* ---- pool and futures --------------------------------------------------------------- */

static int task_make(void *arg, void **result)
{
    msg_take(arg, 21); /* written before submit: submit -> the task's start */
    *result = msg_new(22);
    return 0;
}

static void scenario_future(void)
{
    weft_pool *p;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    CHECK(weft_pool_create(&p, &o) == 0);
    for (int i = 0; i < 20; i++) {
        weft_future *f;
        CHECK(weft_pool_submit(p, task_make, msg_new(21), &f) == 0);
        void *res = NULL;
        CHECK(weft_future_result(f, WEFT_FOREVER, &res) == 0);
        msg_take(res, 22);
        weft_future_release(f);
    }
    CHECK(weft_pool_shutdown(p, true, false) == 0);
    CHECK(weft_pool_destroy(p) == 0);
}

static weft_sem callback_done = WEFT_SEM_INIT(0);
static msg *callback_seen;

static void on_done(weft_future *f, void *arg)
{
    (void)arg;
    void *res = NULL;
    CHECK(weft_future_result(f, 0, &res) == 0); /* the task's result, in the callback */
    msg_take(res, 22);
    callback_seen = msg_new(23);
    weft_sem_release(&callback_done, 1);
}

static int task_slow(void *arg, void **result)
{
    struct timespec ts = {0, 5 * 1000 * 1000}; /* the callback is added first */
    nanosleep(&ts, NULL);
    return task_make(arg, result);
}

static void scenario_done_callback(void)
{
    weft_pool *p;
    weft_pool_options o = WEFT_POOL_OPTIONS_INIT;
    o.max_workers = 2;
    CHECK(weft_pool_create(&p, &o) == 0);
    for (int i = 0; i < 10; i++) {
        weft_future *f;
        CHECK(weft_pool_submit(p, i % 2 ? task_make : task_slow, msg_new(21), &f) == 0);
        CHECK(weft_future_add_done_callback(f, on_done, NULL) == 0);
        CHECK(weft_sem_acquire(&callback_done) == 0);
        msg_take(callback_seen, 23);
        weft_future_release(f);
    }
    CHECK(weft_pool_shutdown(p, true, false) == 0);
    CHECK(weft_pool_destroy(p) == 0);
}

/* ---- what TSan must report ------------------------------------------------------------ */

static long unprotected;

static void *bump(void *arg)
{
    (void)arg;
    unprotected++; /* the race */
    return NULL;
}

static void scenario_race_pthread(void)
{
    pthread_t a = spawn(bump, NULL), b = spawn(bump, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
}

static void scenario_race_weft(void)
{
    weft_thread a, b;
    CHECK(weft_thread_start(&a, bump, NULL, NULL) == 0);
    CHECK(weft_thread_start(&b, bump, NULL, NULL) == 0);
    CHECK(weft_thread_join(a, WEFT_FOREVER, NULL) == 0);
    CHECK(weft_thread_join(b, WEFT_FOREVER, NULL) == 0);
    weft_thread_release(a);
    weft_thread_release(b);
}

static weft_lock lock_a = WEFT_LOCK_INIT, lock_b = WEFT_LOCK_INIT;

static void scenario_inversion(void)
{
    /* One thread, so it cannot hang: the detector reports the cycle in the order
     * graph (a before b, then b before a), not an actual deadlock. */
    weft_lock_acquire(&lock_a);
    weft_lock_acquire(&lock_b);
    weft_lock_release(&lock_b);
    weft_lock_release(&lock_a);
    weft_lock_acquire(&lock_b);
    weft_lock_acquire(&lock_a);
    weft_lock_release(&lock_a);
    weft_lock_release(&lock_b);
}

static weft_rwlock rw_x = WEFT_RWLOCK_INIT, rw_y = WEFT_RWLOCK_INIT;

/* As scenario_inversion, with rwlocks: both taken for writing. */
static void scenario_rwlock_inversion(void)
{
    weft_rwlock_write_acquire(&rw_x);
    weft_rwlock_write_acquire(&rw_y);
    weft_rwlock_write_release(&rw_y);
    weft_rwlock_write_release(&rw_x);
    weft_rwlock_write_acquire(&rw_y);
    weft_rwlock_write_acquire(&rw_x);
    weft_rwlock_write_release(&rw_x);
    weft_rwlock_write_release(&rw_y);
}

/* x read, then y written; later y written, then x read. */
static void scenario_rwlock_inversion_rw(void)
{
    weft_rwlock_read_acquire(&rw_x);
    weft_rwlock_write_acquire(&rw_y);
    weft_rwlock_write_release(&rw_y);
    weft_rwlock_read_release(&rw_x);
    weft_rwlock_write_acquire(&rw_y);
    weft_rwlock_read_acquire(&rw_x);
    weft_rwlock_read_release(&rw_x);
    weft_rwlock_write_release(&rw_y);
}

/* ---- driver ----------------------------------------------------------------------- */

static void s_lock(void) { run_counter(count_locked); }
static void s_rlock(void) { run_counter(count_rlocked); }
static void s_ring(void) { run_queue(4, WEFT_FIFO, false); }
static void s_linked(void) { run_queue(0, WEFT_FIFO, false); }
static void s_lifo(void) { run_queue(8, WEFT_LIFO, false); }
static void s_priority(void) { run_queue(8, WEFT_PRIORITY, false); }
static void s_simple(void) { run_queue(0, WEFT_FIFO, true); }

static const scenario scenarios[] = {
    {"lock", s_lock},
    {"rlock", s_rlock},
    {"cond", scenario_cond},
    {"rwlock", scenario_rwlock},
    {"sem", scenario_sem},
    {"event", scenario_event},
    {"barrier", scenario_barrier},
    {"once", scenario_once},
    {"join", scenario_join},
    {"timer_start", scenario_timer_start},
    {"timer_cancel", scenario_timer_cancel},
    {"queue_ring", s_ring},
    {"queue_linked", s_linked},
    {"queue_lifo", s_lifo},
    {"queue_priority", s_priority},
    {"simplequeue", s_simple},
    {"future", scenario_future},
    {"done_callback", scenario_done_callback},
    {"race_pthread", scenario_race_pthread},
    {"race_weft", scenario_race_weft},
    {"inversion", scenario_inversion},
    {"inversion_rwlock", scenario_rwlock_inversion},
    {"inversion_rwlock_rw", scenario_rwlock_inversion_rw},
};

int main(int argc, char **argv)
{
    return scenario_main(argc, argv, scenarios, sizeof scenarios / sizeof scenarios[0]);
}
