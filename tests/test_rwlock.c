#include "check.h"

#include <sched.h>

/* The lock's words, for checking that misuse changes nothing and for sequencing
 * threads on what the lock shows (a writer has claimed it, a reader queued). */
static uint32_t state_of(weft_rwlock *rw)
{
    return atomic_load_explicit(&rw->state, memory_order_acquire);
}
static uint32_t writers_of(weft_rwlock *rw)
{
    return atomic_load_explicit(&rw->writers, memory_order_acquire);
}
static uint32_t queued_of(weft_rwlock *rw)
{
    return (state_of(rw) & WEFT_RWLOCK_QUEUED_MASK) >> WEFT_RWLOCK_QUEUED_SHIFT;
}
static bool claimed(weft_rwlock *rw)
{
    return (state_of(rw) & WEFT_RWLOCK_WRITER) != 0;
}

/* Reads until the lock's bias is on, so that later reads go into the table: after
 * a revocation it stays off a while (nine times as long as the revocation took),
 * and a thread looks at the clock for it only every so many reads. */
static bool read_once_for_bias(weft_rwlock *rw)
{
    CHECK_EQ(weft_rwlock_read_acquire(rw), 0);
    CHECK_EQ(weft_rwlock_read_release(rw), 0);
    return (state_of(rw) & WEFT_RWLOCK_BIAS) != 0;
}
static void warm_bias(weft_rwlock *rw)
{
    EVENTUALLY(read_once_for_bias(rw));
}

/* Free for writing right now (takes and gives back the write hold). */
static bool free_for_writing(weft_rwlock *rw)
{
    if (!weft_rwlock_write_try_acquire(rw))
        return false;
    CHECK_EQ(weft_rwlock_write_release(rw), 0);
    return true;
}

static void layout_and_zero_init(void)
{
    CHECK(sizeof(weft_rwlock) <= 8);
    weft_rwlock zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(weft_rwlock_read_acquire(&zero), 0);
    CHECK_EQ(weft_rwlock_read_release(&zero), 0);
    CHECK(weft_rwlock_write_try_acquire(&zero));
    CHECK_EQ(weft_rwlock_write_release(&zero), 0);
    weft_rwlock init = WEFT_RWLOCK_INIT;
    CHECK(weft_rwlock_write_try_acquire(&init));
    CHECK_EQ(weft_rwlock_write_release(&init), 0);
}

static void every_verb(void)
{
    weft_rwlock rw = WEFT_RWLOCK_INIT;
    CHECK_EQ(weft_rwlock_read_acquire(&rw), 0);
    CHECK(weft_rwlock_read_try_acquire(&rw)); /* a second hold */
    CHECK_EQ(weft_rwlock_read_acquire_for(&rw, 0), 0);
    CHECK_EQ(weft_rwlock_read_acquire_for(&rw, WEFT_MS(10)), 0);
    CHECK_EQ(weft_rwlock_read_acquire_until(&rw, weft_deadline_in(WEFT_MS(10))), 0);
    CHECK(!weft_rwlock_write_try_acquire(&rw));
    CHECK_EQ(weft_rwlock_write_acquire_for(&rw, 0), ETIMEDOUT);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(weft_rwlock_read_release(&rw), 0);
    CHECK_EQ(weft_rwlock_read_release(&rw), EPERM);

    CHECK_EQ(weft_rwlock_write_acquire(&rw), 0);
    CHECK(!weft_rwlock_read_try_acquire(&rw));
    CHECK_EQ(weft_rwlock_read_acquire_for(&rw, 0), ETIMEDOUT);
    CHECK(!weft_rwlock_write_try_acquire(&rw));
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK(weft_rwlock_write_try_acquire(&rw));
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK_EQ(weft_rwlock_write_acquire_for(&rw, 0), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK_EQ(weft_rwlock_write_acquire_for(&rw, WEFT_FOREVER), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK_EQ(weft_rwlock_write_acquire_until(&rw, weft_deadline_in(WEFT_MS(10))), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw), EPERM);

    CHECK_EQ(weft_rwlock_write_acquire(&rw), 0);
    CHECK_EQ(weft_rwlock_downgrade(&rw), 0);
    CHECK(!weft_rwlock_write_try_acquire(&rw));
    CHECK(weft_rwlock_read_try_acquire(&rw));
    CHECK_EQ(weft_rwlock_read_release(&rw), 0);
    CHECK(weft_rwlock_try_upgrade(&rw));
    CHECK(!weft_rwlock_read_try_acquire(&rw));
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK(free_for_writing(&rw));
}

static void null_is_einval(void)
{
    weft_rwlock *none = NULL;
    CHECK_EQ(weft_rwlock_read_acquire(none), EINVAL);
    CHECK(!weft_rwlock_read_try_acquire(none));
    CHECK_EQ(weft_rwlock_read_acquire_for(none, 0), EINVAL);
    CHECK_EQ(weft_rwlock_read_acquire_for(none, WEFT_MS(1)), EINVAL);
    CHECK_EQ(weft_rwlock_read_acquire_until(none, weft_deadline_in(WEFT_MS(1))), EINVAL);
    CHECK_EQ(weft_rwlock_read_release(none), EINVAL);
    CHECK_EQ(weft_rwlock_write_acquire(none), EINVAL);
    CHECK(!weft_rwlock_write_try_acquire(none));
    CHECK_EQ(weft_rwlock_write_acquire_for(none, 0), EINVAL);
    CHECK_EQ(weft_rwlock_write_acquire_for(none, WEFT_MS(1)), EINVAL);
    CHECK_EQ(weft_rwlock_write_acquire_until(none, weft_deadline_in(WEFT_MS(1))), EINVAL);
    CHECK_EQ(weft_rwlock_write_release(none), EINVAL);
    CHECK_EQ(weft_rwlock_downgrade(none), EINVAL);
    CHECK(!weft_rwlock_try_upgrade(none));
}

/* Misuse returns its code and leaves both words as they were. */
#define CHECK_UNCHANGED(rw, call, code)                                                  \
    do {                                                                                 \
        uint32_t s_ = state_of(rw), w_ = writers_of(rw);                                 \
        CHECK_EQ((call), (code));                                                        \
        CHECK_EQ(state_of(rw), s_);                                                      \
        CHECK_EQ(writers_of(rw), w_);                                                    \
    } while (0)

static void misuse_changes_nothing(void)
{
    weft_rwlock rw = WEFT_RWLOCK_INIT;
    /* free */
    CHECK_UNCHANGED(&rw, weft_rwlock_read_release(&rw), EPERM);
    CHECK_UNCHANGED(&rw, weft_rwlock_write_release(&rw), EPERM);
    CHECK_UNCHANGED(&rw, weft_rwlock_downgrade(&rw), EPERM);
    /* read-held, in the word (first read) and then in the table (bias on) */
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            warm_bias(&rw);
        CHECK_EQ(weft_rwlock_read_acquire(&rw), 0);
        CHECK_UNCHANGED(&rw, weft_rwlock_write_release(&rw), EPERM);
        CHECK_UNCHANGED(&rw, weft_rwlock_downgrade(&rw), EPERM);
        CHECK_EQ(weft_rwlock_read_release(&rw), 0);
        CHECK_UNCHANGED(&rw, weft_rwlock_read_release(&rw), EPERM);
    }
    /* write-held */
    CHECK_EQ(weft_rwlock_write_acquire(&rw), 0);
    CHECK_UNCHANGED(&rw, weft_rwlock_read_release(&rw), EPERM);
    CHECK_UNCHANGED(&rw, weft_rwlock_try_upgrade(&rw), false);
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
    CHECK_UNCHANGED(&rw, weft_rwlock_write_release(&rw), EPERM);
    CHECK(free_for_writing(&rw));
}

/* The bias: the first reader turns it on, a writer turns it off; readers in the
 * table block writers exactly as counted ones do. */
static void bias_and_revocation(void)
{
    weft_rwlock rw = WEFT_RWLOCK_INIT;
    CHECK(!(state_of(&rw) & WEFT_RWLOCK_BIAS));
    warm_bias(&rw); /* readers through the word turn it on */
    CHECK_EQ(weft_rwlock_read_acquire(&rw), 0); /* in the table now */
    CHECK_EQ(state_of(&rw) >> WEFT_RWLOCK_READERS_SHIFT, 0);
    CHECK(!weft_rwlock_write_try_acquire(&rw)); /* the try revokes, sees us, gives up */
    CHECK(!(state_of(&rw) & WEFT_RWLOCK_BIAS));
    CHECK(!claimed(&rw));
    CHECK_EQ(weft_rwlock_read_release(&rw), 0);
    CHECK_EQ(weft_rwlock_write_acquire(&rw), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw), 0);
}

/* More holds than a row has slots, over more locks than it has slots: the extra
 * ones count in their words; all of them block writers until released. */
static void many_locks_one_thread(void)
{
    enum { N = 3 * WEFT_RWLOCK_ROW_SLOTS };
    static weft_rwlock locks[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            CHECK_EQ(weft_rwlock_read_acquire(&locks[i]), 0);
        for (int i = 0; i < N; i++)
            CHECK(!weft_rwlock_write_try_acquire(&locks[i]));
        for (int i = 0; i < N; i++)
            CHECK_EQ(weft_rwlock_read_release(&locks[i]), 0);
        for (int i = 0; i < N; i++)
            CHECK(free_for_writing(&locks[i]));
    }
}

static weft_rwlock shared = WEFT_RWLOCK_INIT;

static void *read_and_keep(void *arg)
{
    (void)arg;
    /* the first read gives this thread its row; the second goes into it */
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    return NULL;
}

static void *release_read(void *arg)
{
    CHECK_EQ(weft_rwlock_read_release(&shared), *(int *)arg);
    return NULL;
}

/* Not owned: a read hold taken in one thread (announced in its row) is released
 * by another; the debt settles when the first thread exits. Also a hold whose
 * thread exits without releasing stays held until someone releases it. */
static void any_thread_may_release(void)
{
    for (int round = 0; round < 3; round++) {
        /* warm the bias so that the hold goes into the thread's row */
        warm_bias(&shared);
        pthread_t a, b;
        CHECK_EQ(pthread_create(&a, NULL, read_and_keep, NULL), 0);
        CHECK_EQ(pthread_join(a, NULL), 0); /* exits holding it, in its row */
        CHECK_EQ(state_of(&shared) >> WEFT_RWLOCK_READERS_SHIFT, 0);
        CHECK(!free_for_writing(&shared));
        CHECK_EQ(weft_rwlock_read_release(&shared), 0); /* we release its hold */
        CHECK_EQ(weft_rwlock_read_release(&shared), EPERM);
        CHECK(free_for_writing(&shared));
        CHECK(!(writers_of(&shared) & WEFT_RWLOCK_DEBTS));

        /* and the same with the holder still alive while another releases */
        warm_bias(&shared);
        CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
        CHECK_EQ(state_of(&shared) >> WEFT_RWLOCK_READERS_SHIFT, 0); /* in our row */
        int ok = 0, eperm = EPERM;
        CHECK_EQ(pthread_create(&b, NULL, release_read, &ok), 0);
        CHECK_EQ(pthread_join(b, NULL), 0);
        CHECK(free_for_writing(&shared));
        CHECK_EQ(pthread_create(&b, NULL, release_read, &eperm), 0);
        CHECK_EQ(pthread_join(b, NULL), 0);
        /* our slot still names the lock, but its debt makes it nobody's: reading
         * again settles it, and the lock counts exactly one reader */
        CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
        CHECK(!free_for_writing(&shared));
        CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        CHECK_EQ(weft_rwlock_read_release(&shared), EPERM);
        CHECK(free_for_writing(&shared));
        CHECK(!(writers_of(&shared) & WEFT_RWLOCK_DEBTS));
    }
}

static void *release_write(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);
    return NULL;
}

static void write_released_by_another_thread(void)
{
    CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, release_write, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK(free_for_writing(&shared));
}

/* ---- blocking and timeouts ----------------------------------------------------- */

static _Atomic int step;

static void *timed_reader(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_rwlock_read_acquire_for(&shared, timeout), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout); /* never early */
    t0 = weft_now_ns();
    CHECK_EQ(weft_rwlock_read_acquire_until(&shared, weft_deadline_in(timeout)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout);
    return NULL;
}

static void *timed_writer(void *arg)
{
    int64_t timeout = *(int64_t *)arg;
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_rwlock_write_acquire_for(&shared, timeout), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout);
    t0 = weft_now_ns();
    CHECK_EQ(weft_rwlock_write_acquire_until(&shared, weft_deadline_in(timeout)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= timeout);
    return NULL;
}

static void timeouts(void)
{
    int64_t timeouts_ns[] = {WEFT_US(1), WEFT_US(200), WEFT_MS(5)};
    for (size_t i = 0; i < sizeof timeouts_ns / sizeof timeouts_ns[0]; i++) {
        pthread_t th;
        /* a reader times out behind a writer, and leaves nothing behind */
        CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
        CHECK_EQ(pthread_create(&th, NULL, timed_reader, &timeouts_ns[i]), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(queued_of(&shared), 0);
        CHECK_EQ(weft_rwlock_write_release(&shared), 0);
        CHECK(free_for_writing(&shared));

        /* a writer times out behind another writer */
        CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
        CHECK_EQ(pthread_create(&th, NULL, timed_writer, &timeouts_ns[i]), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(writers_of(&shared) & WEFT_RWLOCK_WSLEEPERS_MASK, 0);
        CHECK_EQ(weft_rwlock_write_release(&shared), 0);

        /* a writer times out behind readers (in the word and in the table), and
         * gives its claim up: readers get in again */
        for (int j = 0; j < 2; j++) {
            CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
            CHECK_EQ(pthread_create(&th, NULL, timed_writer, &timeouts_ns[i]), 0);
            CHECK_EQ(pthread_join(th, NULL), 0);
            CHECK(!claimed(&shared));
            CHECK(weft_rwlock_read_try_acquire(&shared));
            CHECK_EQ(weft_rwlock_read_release(&shared), 0);
            CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        }
        CHECK(free_for_writing(&shared));
    }
}

/* ---- phase fairness ------------------------------------------------------------ */

static _Atomic int order;     /* entries into the lock, in order */
static _Atomic int reader_at; /* when the reader got in (0: not yet) */
static _Atomic int writer_at; /* when the writer got in */

static void *blocked_reader(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    atomic_store(&reader_at, atomic_fetch_add(&order, 1) + 1);
    while (atomic_load(&step) < 1) /* hold until told */
        usleep(1000);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    return NULL;
}

static void *blocked_writer(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
    atomic_store(&writer_at, atomic_fetch_add(&order, 1) + 1);
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);
    return NULL;
}

static void reset_order(void)
{
    atomic_store(&order, 0);
    atomic_store(&reader_at, 0);
    atomic_store(&writer_at, 0);
    atomic_store(&step, 0);
}

/* A waiting writer stops new readers, and gets in once the readers it found
 * leave, though another reader still wants in. */
static void waiting_writer_stops_new_readers(void)
{
    reset_order();
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    pthread_t w, r;
    CHECK_EQ(pthread_create(&w, NULL, blocked_writer, NULL), 0);
    EVENTUALLY(claimed(&shared));
    CHECK(!weft_rwlock_read_try_acquire(&shared));
    CHECK_EQ(weft_rwlock_read_acquire_for(&shared, WEFT_MS(1)), ETIMEDOUT);
    CHECK_EQ(pthread_create(&r, NULL, blocked_reader, NULL), 0);
    EVENTUALLY(queued_of(&shared) == 1);
    CHECK_EQ(atomic_load(&writer_at), 0);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    EVENTUALLY(atomic_load(&reader_at) != 0);
    CHECK_EQ(atomic_load(&writer_at), 1); /* the writer before the reader behind it */
    atomic_store(&step, 1);
    CHECK_EQ(pthread_join(w, NULL), 0);
    CHECK_EQ(pthread_join(r, NULL), 0);
    CHECK(free_for_writing(&shared));
}

/* When a writer lets go, the readers that queued behind it go in before any next
 * writer claims the lock: a try cannot take it while they are on their way, and a
 * writer that comes then waits for them to leave. (A writer already waiting lets
 * them come in for up to a millisecond; whether a woken thread runs that soon is
 * the scheduler's business, so that case is left to the stress test.) */
static void queued_readers_before_next_writer(void)
{
    reset_order();
    CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
    pthread_t w, r;
    CHECK_EQ(pthread_create(&r, NULL, blocked_reader, NULL), 0);
    EVENTUALLY(queued_of(&shared) == 1);
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);
    CHECK(!weft_rwlock_write_try_acquire(&shared)); /* queued, or already in */
    EVENTUALLY(atomic_load(&reader_at) != 0);
    CHECK_EQ(atomic_load(&reader_at), 1);
    CHECK_EQ(pthread_create(&w, NULL, blocked_writer, NULL), 0);
    EVENTUALLY(claimed(&shared)); /* it claimed, and waits for the reader */
    CHECK(!weft_rwlock_read_try_acquire(&shared));
    usleep(20000);
    CHECK_EQ(atomic_load(&writer_at), 0);
    atomic_store(&step, 1);
    CHECK_EQ(pthread_join(r, NULL), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);
    CHECK_EQ(atomic_load(&writer_at), 2);
    CHECK(free_for_writing(&shared));
}

/* Downgrade: the caller keeps a read hold, the queued readers come in with it, and
 * a writer stays out until all of them leave. */
static void downgrade_lets_readers_in_not_writers(void)
{
    reset_order();
    CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
    pthread_t w, r;
    CHECK_EQ(pthread_create(&r, NULL, blocked_reader, NULL), 0);
    EVENTUALLY(queued_of(&shared) == 1);
    CHECK_EQ(weft_rwlock_downgrade(&shared), 0);
    CHECK(!weft_rwlock_write_try_acquire(&shared));
    EVENTUALLY(atomic_load(&reader_at) != 0);
    CHECK(weft_rwlock_read_try_acquire(&shared)); /* readers still come in */
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    CHECK_EQ(pthread_create(&w, NULL, blocked_writer, NULL), 0);
    EVENTUALLY(claimed(&shared)); /* the writer has claimed it and waits for us */
    CHECK(!weft_rwlock_read_try_acquire(&shared));
    usleep(20000);
    CHECK_EQ(atomic_load(&writer_at), 0);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0); /* ours */
    usleep(20000);
    CHECK_EQ(atomic_load(&writer_at), 0); /* the reader still holds */
    atomic_store(&step, 1);
    CHECK_EQ(pthread_join(r, NULL), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);
    CHECK_EQ(atomic_load(&writer_at), 2);
    CHECK(free_for_writing(&shared));
}

static void *hold_read_until_step(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    atomic_fetch_add(&reader_at, 1);
    while (atomic_load(&step) < 1)
        usleep(1000);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    return NULL;
}

/* try_upgrade succeeds only for the sole reader. */
static void try_upgrade_only_as_sole_reader(void)
{
    /* the sole reader, in the word and in the table */
    for (int round = 0; round < 3; round++) {
        CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
        CHECK(weft_rwlock_try_upgrade(&shared));
        CHECK(!weft_rwlock_read_try_acquire(&shared));
        CHECK_EQ(weft_rwlock_read_release(&shared), EPERM);
        CHECK_EQ(weft_rwlock_write_release(&shared), 0);
        CHECK(free_for_writing(&shared));
    }
    /* a second hold of our own counts as a second reader */
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    CHECK(!weft_rwlock_try_upgrade(&shared));
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    CHECK(weft_rwlock_try_upgrade(&shared));
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);

    /* another reader: no upgrade, and both still hold */
    reset_order();
    pthread_t r;
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    CHECK_EQ(pthread_create(&r, NULL, hold_read_until_step, NULL), 0);
    EVENTUALLY(atomic_load(&reader_at) == 1);
    CHECK(!weft_rwlock_try_upgrade(&shared));
    CHECK(!claimed(&shared));
    CHECK(weft_rwlock_read_try_acquire(&shared)); /* readers still come in */
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    CHECK(!free_for_writing(&shared));
    atomic_store(&step, 1);
    CHECK_EQ(pthread_join(r, NULL), 0);
    CHECK(!free_for_writing(&shared)); /* ours still */
    CHECK(weft_rwlock_try_upgrade(&shared));
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);

    /* a writer waiting: no upgrade (it waits for us) */
    reset_order();
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    pthread_t w;
    CHECK_EQ(pthread_create(&w, NULL, blocked_writer, NULL), 0);
    EVENTUALLY(claimed(&shared));
    CHECK(!weft_rwlock_try_upgrade(&shared));
    CHECK_EQ(atomic_load(&writer_at), 0);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    CHECK_EQ(pthread_join(w, NULL), 0);
    CHECK_EQ(atomic_load(&writer_at), 1);
    CHECK(free_for_writing(&shared));
}

/* A writer waiting on readers that hold for long (asleep, so that it sleeps too)
 * is woken when the last of them leaves: in the word and in the table. */
static void *long_readers(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    atomic_fetch_add(&reader_at, 1);
    usleep(50000);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    return NULL;
}

static void writer_sleeps_until_readers_leave(void)
{
    for (int round = 0; round < 3; round++) {
        reset_order();
        pthread_t r[3], w;
        for (int i = 0; i < 3; i++)
            CHECK_EQ(pthread_create(&r[i], NULL, long_readers, NULL), 0);
        EVENTUALLY(atomic_load(&reader_at) == 3);
        int64_t t0 = weft_now_ns();
        CHECK_EQ(pthread_create(&w, NULL, blocked_writer, NULL), 0);
        CHECK_EQ(pthread_join(w, NULL), 0);
        CHECK(weft_now_ns() - t0 < WEFT_SEC(5)); /* woken, not stranded */
        for (int i = 0; i < 3; i++)
            CHECK_EQ(pthread_join(r[i], NULL), 0);
        CHECK(free_for_writing(&shared));
    }
}

/* ---- cancellation ------------------------------------------------------------------ */

static weft_cancel token;
static _Atomic int waiting; /* a cancellable call is about to block */

static weft_deadline cancellable(void)
{
    CHECK_EQ(weft_cancel_init(&token), 0);
    return weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &token);
}

static void *cancelled_reader(void *arg)
{
    weft_deadline d = *(weft_deadline *)arg;
    atomic_store(&waiting, 1);
    CHECK_EQ(weft_rwlock_read_acquire_until(&shared, d), ECANCELED);
    return NULL;
}

static void *cancelled_writer(void *arg)
{
    weft_deadline d = *(weft_deadline *)arg;
    atomic_store(&waiting, 1);
    CHECK_EQ(weft_rwlock_write_acquire_until(&shared, d), ECANCELED);
    return NULL;
}

/* A token fired before the call: a call that would block returns ECANCELED at
 * once and changes nothing; one that can complete completes. */
static void cancel_fired_before_the_call(void)
{
    weft_deadline d = cancellable();
    CHECK_EQ(weft_cancel_fire(&token), 0);
    /* free: both sides are taken, fired token or not */
    CHECK_EQ(weft_rwlock_read_acquire_until(&shared, d), 0);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    CHECK_EQ(weft_rwlock_write_acquire_until(&shared, d), 0);
    /* write-held: neither side queues or counts itself in */
    CHECK_UNCHANGED(&shared, weft_rwlock_read_acquire_until(&shared, d), ECANCELED);
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);
    CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, cancelled_writer, &d), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(state_of(&shared), WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD);
    CHECK_EQ(writers_of(&shared) & (WEFT_RWLOCK_WSLEEPERS_MASK | WEFT_RWLOCK_DRAIN), 0);
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);
    /* read-held, in the word and then in the table: the writer claims nothing */
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            warm_bias(&shared);
        CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
        CHECK_EQ(pthread_create(&th, NULL, cancelled_writer, &d), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK(!claimed(&shared));
        CHECK(weft_rwlock_read_try_acquire(&shared));
        CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        CHECK(free_for_writing(&shared));
    }
    /* the _for twins carry no token: a timeout is still a timeout */
    CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
    CHECK_EQ(weft_rwlock_read_acquire_for(&shared, WEFT_US(100)), ETIMEDOUT);
    CHECK_EQ(weft_rwlock_write_release(&shared), 0);
}

/* A reader queued behind a writer is cancelled: ECANCELED, it has left the queue,
 * and the writer's hold is untouched; readers get in once the writer lets go. */
static void cancel_reader_blocked_behind_writer(void)
{
    for (int round = 0; round < 3; round++) {
        weft_deadline d = cancellable();
        atomic_store(&waiting, 0);
        CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
        uint32_t before = state_of(&shared);
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, cancelled_reader, &d), 0);
        EVENTUALLY(queued_of(&shared) == 1);
        if (round > 0)
            usleep(20000); /* most likely asleep by now; correct either way */
        CHECK_EQ(weft_cancel_fire(&token), 0);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(state_of(&shared), before); /* not queued, not asleep, still held */
        CHECK(!weft_rwlock_read_try_acquire(&shared));
        CHECK_EQ(weft_rwlock_write_release(&shared), 0);
        CHECK(weft_rwlock_read_try_acquire(&shared));
        CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        CHECK(free_for_writing(&shared));
    }
}

static void *read_once(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
    atomic_fetch_add(&reader_at, 1);
    CHECK_EQ(weft_rwlock_read_release(&shared), 0);
    return NULL;
}

/* A writer that has claimed the lock and waits for readers is cancelled:
 * ECANCELED, its claim is given up, the reader that queued behind it gets in and
 * new readers are no longer stopped. Readers in the word and in the table. */
static void cancel_writer_blocked_behind_readers(void)
{
    for (int round = 0; round < 4; round++) {
        reset_order();
        weft_deadline d = cancellable();
        if (round % 2)
            warm_bias(&shared);
        CHECK_EQ(weft_rwlock_read_acquire(&shared), 0);
        pthread_t w, r;
        CHECK_EQ(pthread_create(&w, NULL, cancelled_writer, &d), 0);
        EVENTUALLY(claimed(&shared));
        CHECK_EQ(pthread_create(&r, NULL, read_once, NULL), 0);
        EVENTUALLY(queued_of(&shared) == 1); /* stopped by the claim */
        if (round >= 2)
            usleep(20000); /* both most likely asleep by now */
        CHECK_EQ(atomic_load(&reader_at), 0);
        CHECK_EQ(weft_cancel_fire(&token), 0);
        CHECK_EQ(pthread_join(w, NULL), 0);
        CHECK_EQ(pthread_join(r, NULL), 0); /* the queued reader got in */
        CHECK_EQ(atomic_load(&reader_at), 1);
        CHECK(!claimed(&shared));
        CHECK_EQ(queued_of(&shared), 0);
        CHECK_EQ(writers_of(&shared) & (WEFT_RWLOCK_WSLEEPERS_MASK | WEFT_RWLOCK_DRAIN), 0);
        CHECK(weft_rwlock_read_try_acquire(&shared)); /* new readers get in */
        CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        CHECK(!free_for_writing(&shared)); /* ours still */
        CHECK_EQ(weft_rwlock_read_release(&shared), 0);
        CHECK(free_for_writing(&shared));
    }
}

/* A writer waiting for another writer is cancelled: ECANCELED, no longer counted
 * among the sleepers, the holder's hold untouched. */
static void cancel_writer_blocked_behind_writer(void)
{
    for (int round = 0; round < 2; round++) {
        weft_deadline d = cancellable();
        atomic_store(&waiting, 0);
        CHECK_EQ(weft_rwlock_write_acquire(&shared), 0);
        pthread_t w;
        CHECK_EQ(pthread_create(&w, NULL, cancelled_writer, &d), 0);
        EVENTUALLY(atomic_load(&waiting) == 1);
        if (round == 1)
            EVENTUALLY((writers_of(&shared) & WEFT_RWLOCK_WSLEEPERS_MASK) == 1); /* asleep */
        CHECK_EQ(weft_cancel_fire(&token), 0);
        CHECK_EQ(pthread_join(w, NULL), 0);
        CHECK_EQ(state_of(&shared), WEFT_RWLOCK_WRITER | WEFT_RWLOCK_HELD);
        CHECK_EQ(writers_of(&shared) & WEFT_RWLOCK_WSLEEPERS_MASK, 0);
        CHECK_EQ(weft_rwlock_write_release(&shared), 0);
        CHECK(free_for_writing(&shared));
    }
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(every_verb), TEST(null_is_einval),
          TEST(misuse_changes_nothing), TEST(bias_and_revocation), TEST(many_locks_one_thread),
          TEST(any_thread_may_release), TEST(write_released_by_another_thread), TEST(timeouts),
          TEST(waiting_writer_stops_new_readers), TEST(queued_readers_before_next_writer),
          TEST(downgrade_lets_readers_in_not_writers), TEST(try_upgrade_only_as_sole_reader),
          TEST(writer_sleeps_until_readers_leave), TEST(cancel_fired_before_the_call),
          TEST(cancel_reader_blocked_behind_writer), TEST(cancel_writer_blocked_behind_readers),
          TEST(cancel_writer_blocked_behind_writer))
