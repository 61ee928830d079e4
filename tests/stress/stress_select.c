/* Bounded stress for weft_wait_any and cancellation:
 *  - queues and events to one select consumer: producers on three queues of
 *    different kinds and an event setter; a plain consumer competes on one queue;
 *    every item is taken exactly once, every set seen exactly once;
 *  - two locks shared by select acquirers (taking either) and plain ones: mutual
 *    exclusion holds, the count of critical sections is exact, and no sleeper is
 *    stranded by a select waiter that leaves with the other lock;
 *  - two semaphores shared the same way: every unit is taken exactly once, and
 *    wakeups a departing select waiter may have spent are passed on (no taker is
 *    stranded while units remain);
 *  - cancellation rounds: blocked select waiters and plain `_until` sleepers on
 *    children of one token all return when it fires, having taken nothing.
 * A watchdog aborts if progress stands still for 20 s (a lost wakeup). Run with
 * WF_TEST_FALLBACK=1, the Linux build uses its parking-lot fallback. */
#include "../check.h"
#include "waiting.h"

#include <sched.h>

static _Atomic long progress;

/* Waits until *done_count reaches `want`, aborting if `progress` stands still for
 * 20 s; `what` names the part for the message. */
static void watch(_Atomic long *done_count, long want, const char *what)
{
    long last = -1;
    int64_t since = weft_now_ns();
    while (atomic_load(done_count) < want) {
        long p = atomic_load(&progress);
        if (p != last) {
            last = p;
            since = weft_now_ns();
        } else if (weft_now_ns() - since > WEFT_SEC(20)) {
            fprintf(stderr, "%s: stuck at %ld of %ld (progress %ld)\n", what,
                    atomic_load(done_count), want, p);
            abort();
        }
        usleep(2000);
    }
}

/* ---- queues and events to one select consumer -------------------------------------- */

enum { QUEUES = 3, EVENTS = 2 };

static weft_queue *queues[QUEUES];
static weft_event events[EVENTS];
static weft_sem event_ack[EVENTS];
static weft_cancel feed_done;
static long items_per_queue, sets_per_event;
static _Atomic unsigned char *seen; /* per item: how many times it was taken */
static _Atomic long items_taken, sets_seen;

static void take_item(void *item)
{
    uintptr_t id = (uintptr_t)item - 1;
    CHECK(id < (uintptr_t)(QUEUES * items_per_queue));
    CHECK_EQ(atomic_fetch_add(&seen[id], 1), 0);
    atomic_fetch_add(&items_taken, 1);
    atomic_fetch_add(&progress, 1);
}

static void *producer(void *arg)
{
    int k = *(int *)arg;
    for (long i = 0; i < items_per_queue; i++) {
        uintptr_t id = (uintptr_t)(k * items_per_queue + i) + 1;
        CHECK_EQ(weft_queue_put(queues[k], (void *)id, WEFT_FOREVER), 0);
        if (i % 64 == 0)
            sched_yield();
    }
    return NULL;
}

static void *setter(void *arg)
{
    int k = *(int *)arg;
    for (long i = 0; i < sets_per_event; i++) {
        CHECK_EQ(weft_event_set(&events[k]), 0);
        CHECK_EQ(weft_sem_acquire(&event_ack[k]), 0); /* the consumer saw it */
    }
    return NULL;
}

static void *select_consumer(void *arg)
{
    (void)arg;
    weft_source s[QUEUES + EVENTS + 1];
    for (;;) {
        for (int k = 0; k < QUEUES; k++)
            s[k] = weft_source_queue_get(queues[k]);
        for (int k = 0; k < EVENTS; k++)
            s[QUEUES + k] = weft_source_event(&events[k]);
        s[QUEUES + EVENTS] = weft_source_cancel(&feed_done);
        int i = weft_wait_any(s, QUEUES + EVENTS + 1, WEFT_FOREVER);
        CHECK(i >= 0 && i <= QUEUES + EVENTS);
        if (i == QUEUES + EVENTS)
            return NULL;
        if (i < QUEUES) {
            CHECK_EQ(s[i].result, 0);
            take_item(s[i].item);
        } else {
            int k = i - QUEUES;
            CHECK_EQ(weft_event_clear(&events[k]), 0);
            atomic_fetch_add(&sets_seen, 1);
            atomic_fetch_add(&progress, 1);
            CHECK_EQ(weft_sem_release(&event_ack[k], 1), 0);
        }
    }
}

/* Competes with the select consumer on queue 1 (the unbounded one). */
static void *plain_consumer(void *arg)
{
    (void)arg;
    for (;;) {
        void *item;
        int r = weft_queue_get(queues[1], &item, WEFT_FOREVER);
        if (r == ESHUTDOWN)
            return NULL;
        CHECK_EQ(r, 0);
        take_item(item);
    }
}

static void queues_and_events(void)
{
    items_per_queue = wf_test_scale(40000);
    sets_per_event = wf_test_scale(4000);
    CHECK_EQ(weft_queue_create(&queues[0], 8, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_create(&queues[1], 0, WEFT_FIFO), 0);
    CHECK_EQ(weft_queue_create(&queues[2], 16, WEFT_LIFO), 0);
    for (int k = 0; k < EVENTS; k++) {
        weft_event e = WEFT_EVENT_INIT;
        events[k] = e;
        CHECK_EQ(weft_sem_init(&event_ack[k], 0), 0);
    }
    CHECK_EQ(weft_cancel_init(&feed_done), 0);
    seen = calloc((size_t)(QUEUES * items_per_queue), 1);
    CHECK(seen != NULL);
    atomic_store(&items_taken, 0);
    atomic_store(&sets_seen, 0);

    pthread_t prod[QUEUES], set[EVENTS], cons, plain;
    int ids[QUEUES] = {0, 1, 2};
    CHECK_EQ(pthread_create(&cons, NULL, select_consumer, NULL), 0);
    CHECK_EQ(pthread_create(&plain, NULL, plain_consumer, NULL), 0);
    for (int k = 0; k < QUEUES; k++)
        CHECK_EQ(pthread_create(&prod[k], NULL, producer, &ids[k]), 0);
    for (int k = 0; k < EVENTS; k++)
        CHECK_EQ(pthread_create(&set[k], NULL, setter, &ids[k]), 0);

    watch(&items_taken, QUEUES * items_per_queue, "queues");
    watch(&sets_seen, EVENTS * sets_per_event, "events");
    for (int k = 0; k < QUEUES; k++)
        CHECK_EQ(pthread_join(prod[k], NULL), 0);
    for (int k = 0; k < EVENTS; k++)
        CHECK_EQ(pthread_join(set[k], NULL), 0);
    CHECK_EQ(weft_cancel_fire(&feed_done), 0);
    CHECK_EQ(pthread_join(cons, NULL), 0);
    CHECK_EQ(weft_queue_shutdown(queues[1], false), 0); /* the plain consumer's way out */
    CHECK_EQ(pthread_join(plain, NULL), 0);

    /* Exact: every item once, nothing left, every set seen once. */
    CHECK_EQ(atomic_load(&items_taken), QUEUES * items_per_queue);
    for (long i = 0; i < QUEUES * items_per_queue; i++)
        CHECK_EQ(atomic_load(&seen[i]), 1);
    CHECK_EQ(atomic_load(&sets_seen), EVENTS * sets_per_event);
    for (int k = 0; k < QUEUES; k++) {
        CHECK(weft_queue_empty(queues[k]));
        CHECK_EQ(weft_queue_destroy(queues[k]), 0);
    }
    free((void *)seen);
}

/* ---- two locks shared by select and plain acquirers ------------------------------
 * Select acquirers take whichever of the two locks they get first, so they are often
 * woken by one lock's release and leave holding the other: the wakeup they may have
 * spent must go on to the plain sleepers of the first. Waits are untimed but for a
 * few very short ones, so a stranded sleeper shows as a thread that never finishes. */

enum { LOCKERS = 6 };

static weft_lock locks[2];
static long sections_per_thread;
static long in_section[2];    /* plain: guarded by locks[k] */
static long sections_done[2]; /* plain: guarded by locks[k] */
static _Atomic long lockers_done;

static void critical_section(int k)
{
    CHECK_EQ(++in_section[k], 1); /* mutual exclusion */
    sections_done[k]++;
    if (sections_done[k] % 64 == 0)
        usleep(20); /* a long hold now and then: sleepers pile up, some starve */
    in_section[k]--;
    atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
}

static void *locker(void *arg)
{
    int id = *(int *)arg;
    long done = 0;
    for (long i = 0; done < sections_per_thread; i++) {
        int k;
        if (id % 3 != 2) {
            k = id % 3;
            CHECK_EQ(weft_lock_acquire(&locks[k]), 0);
        } else {
            weft_source s[2] = {weft_source_lock(&locks[0]), weft_source_lock(&locks[1])};
            /* Now and then a timeout so short that it gives up. */
            int r = weft_wait_any(s, 2, i % 16 == 0 ? WEFT_US(5) : WEFT_FOREVER);
            if (r == -ETIMEDOUT)
                continue;
            CHECK(r == 0 || r == 1);
            k = r;
        }
        critical_section(k);
        done++;
        CHECK_EQ(weft_lock_release(&locks[k]), 0);
    }
    atomic_fetch_add(&lockers_done, 1);
    return NULL;
}

static void locks_shared_with_plain_acquirers(void)
{
    sections_per_thread = wf_test_scale(20000);
    for (int k = 0; k < 2; k++) {
        weft_lock l = WEFT_LOCK_INIT;
        locks[k] = l;
        in_section[k] = sections_done[k] = 0;
    }
    atomic_store(&lockers_done, 0);
    pthread_t th[LOCKERS];
    int ids[LOCKERS];
    for (int i = 0; i < LOCKERS; i++) {
        ids[i] = i;
        CHECK_EQ(pthread_create(&th[i], NULL, locker, &ids[i]), 0);
    }
    watch(&lockers_done, LOCKERS, "locks");
    for (int i = 0; i < LOCKERS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(sections_done[0] + sections_done[1], LOCKERS * sections_per_thread);
    CHECK(!weft_lock_locked(&locks[0]) && !weft_lock_locked(&locks[1]));
}

/* ---- two semaphores shared by select and plain takers ------------------------------
 * As the locks: select takers take from whichever semaphore has a unit, plain takers
 * from one. Untimed waits (but a few short ones), so a unit left while its takers
 * sleep shows as a stall. */

enum { TAKERS = 6 };

static weft_sem units[2];
static long units_total;
static _Atomic bool units_over;
static _Atomic long units_taken, takers_done;

static void *taker(void *arg)
{
    int id = *(int *)arg;
    for (long i = 0;; i++) {
        if (id % 3 != 2) {
            int r = weft_sem_acquire_for(&units[id % 3], i % 16 == 0 ? WEFT_US(20) : WEFT_FOREVER);
            if (r == ETIMEDOUT)
                continue;
            CHECK_EQ(r, 0);
        } else {
            weft_source s[2] = {weft_source_sem(&units[0]), weft_source_sem(&units[1])};
            int r = weft_wait_any(s, 2, i % 16 == 0 ? WEFT_US(20) : WEFT_FOREVER);
            if (r == -ETIMEDOUT)
                continue;
            CHECK(r == 0 || r == 1);
        }
        /* After the last real unit, main hands out extra ones to let takers out. */
        if (atomic_load(&units_over))
            break;
        atomic_fetch_add(&units_taken, 1);
        atomic_fetch_add_explicit(&progress, 1, memory_order_relaxed);
    }
    atomic_fetch_add(&takers_done, 1);
    return NULL;
}

static void semaphores_shared_with_plain_takers(void)
{
    units_total = wf_test_scale(60000);
    for (int k = 0; k < 2; k++)
        CHECK_EQ(weft_sem_init(&units[k], 0), 0);
    atomic_store(&units_over, false);
    atomic_store(&units_taken, 0);
    atomic_store(&takers_done, 0);
    pthread_t th[TAKERS];
    int ids[TAKERS];
    for (int i = 0; i < TAKERS; i++) {
        ids[i] = i;
        CHECK_EQ(pthread_create(&th[i], NULL, taker, &ids[i]), 0);
    }
    /* Release in bursts of 1..4, alternating, so that wake(n) spends several
     * wakeups at once and select takers are woken by both. Never more units out
     * than takers can hold, so most takes come after a sleep. */
    for (long given = 0; given < units_total;) {
        uint32_t n = (uint32_t)(given % 4 + 1);
        if (given + n > units_total)
            n = (uint32_t)(units_total - given);
        CHECK_EQ(weft_sem_release(&units[given % 2], n), 0);
        given += n;
        while (given - atomic_load(&units_taken) > 8)
            sched_yield();
    }
    watch(&units_taken, units_total, "sem");
    CHECK_EQ(weft_sem_value(&units[0]) + weft_sem_value(&units[1]), 0); /* none lost */
    atomic_store(&units_over, true);
    while (atomic_load(&takers_done) < TAKERS) {
        weft_sem_release(&units[0], 1);
        weft_sem_release(&units[1], 1);
        usleep(1000);
    }
    for (int i = 0; i < TAKERS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(atomic_load(&units_taken), units_total);
}

/* ---- cancellation rounds ------------------------------------------------------------ */

enum { SLEEPERS = 6 };

static weft_cancel round_token;
static weft_queue *empty_queue;
static weft_sem empty_sem;
static _Atomic long round_returned;

static void *cancelled_sleeper(void *arg)
{
    int id = *(int *)arg;
    weft_cancel mine;
    CHECK_EQ(weft_cancel_init_child(&mine, &round_token), 0);
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &mine);
    if (id % 3 == 0) {
        weft_source s[2] = {weft_source_queue_get(empty_queue), weft_source_sem(&empty_sem)};
        CHECK_EQ(weft_wait_any_until(s, 2, d), -ECANCELED);
    } else if (id % 3 == 1) {
        /* A plain sleep of the core under the token (what every `_until` rides on). */
        static _Atomic uint32_t still = 0;
        int r;
        while ((r = wf_sleep(&still, 0, d)) == 0)
            ;
        CHECK_EQ(wf_cancel_result(r, d), ECANCELED);
    } else {
        weft_source s = weft_source_cancel(&mine);
        CHECK_EQ(weft_wait_any(&s, 1, WEFT_FOREVER), 0);
    }
    atomic_fetch_add(&round_returned, 1);
    atomic_fetch_add(&progress, 1);
    return NULL;
}

static void cancellation_rounds(void)
{
    long rounds = wf_test_scale(400);
    CHECK_EQ(weft_queue_create(&empty_queue, 4, WEFT_FIFO), 0);
    CHECK_EQ(weft_sem_init(&empty_sem, 0), 0);
    for (long r = 0; r < rounds; r++) {
        CHECK_EQ(weft_cancel_init(&round_token), 0);
        atomic_store(&round_returned, 0);
        pthread_t th[SLEEPERS];
        int ids[SLEEPERS];
        for (int i = 0; i < SLEEPERS; i++) {
            ids[i] = i;
            CHECK_EQ(pthread_create(&th[i], NULL, cancelled_sleeper, &ids[i]), 0);
        }
        /* Fire at varying moments: before some have started, while others sleep. */
        if (r % 4)
            usleep((useconds_t)(r % 7) * 100);
        CHECK_EQ(weft_cancel_fire(&round_token), 0);
        watch(&round_returned, SLEEPERS, "cancel");
        for (int i = 0; i < SLEEPERS; i++)
            CHECK_EQ(pthread_join(th[i], NULL), 0);
    }
    /* Nothing was taken, and nobody is left listed. */
    CHECK_EQ(weft_sem_value(&empty_sem), 0);
    CHECK_EQ(weft_queue_destroy(empty_queue), 0);
}

int main(int argc, char **argv)
{
    if (getenv("WF_TEST_FALLBACK"))
        wf_wait_any_force_fallback();
    static const wf_test_case cases[] = {
        TEST(queues_and_events),
        TEST(locks_shared_with_plain_acquirers),
        TEST(semaphores_shared_with_plain_takers),
        TEST(cancellation_rounds),
    };
    return wf_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
