/* weft_future on its own (an executor of the test's making: create + set_*), and
 * weft_futures_wait / as_completed. Pool futures are in test_pool.c. */
#include "check.h"

#include <unistd.h>

static void create_and_release(void)
{
    CHECK_EQ(weft_future_create(NULL), EINVAL);
    weft_future *f = NULL;
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK(f != NULL);
    CHECK(!weft_future_done(f));
    CHECK(!weft_future_running(f));
    CHECK(!weft_future_cancelled(f));
    CHECK(weft_future_retain(f) == f);
    CHECK_EQ(weft_future_release(f), 0);
    CHECK_EQ(weft_future_release(f), 0);
    CHECK_EQ(weft_future_release(NULL), EINVAL);
    CHECK(weft_future_retain(NULL) == NULL);
}

static void null_arguments(void)
{
    CHECK_EQ(weft_future_result(NULL, 0, NULL), EINVAL);
    CHECK_EQ(weft_future_result_until(NULL, WEFT_DEADLINE_NEVER, NULL), EINVAL);
    CHECK_EQ(weft_future_cancel(NULL), EINVAL);
    CHECK(!weft_future_cancelled(NULL));
    CHECK(!weft_future_running(NULL));
    CHECK(!weft_future_done(NULL));
    CHECK_EQ(weft_future_set_result(NULL, NULL), EINVAL);
    CHECK_EQ(weft_future_set_error(NULL, 1), EINVAL);
    CHECK_EQ(weft_future_set_running_or_notify_cancel(NULL), EINVAL);
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_add_done_callback(NULL, NULL, NULL), EINVAL);
    CHECK_EQ(weft_future_add_done_callback(f, NULL, NULL), EINVAL);
    CHECK_EQ(weft_future_set_error(f, 0), EINVAL); /* an error must be non-zero */
    CHECK(!weft_future_done(f));                  /* and nothing changed */
    weft_future_release(f);
}

static void set_result_and_error(void)
{
    weft_future *f;
    int value = 42;
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_set_running_or_notify_cancel(f), 0);
    CHECK(weft_future_running(f));
    CHECK_EQ(weft_future_set_running_or_notify_cancel(f), EINVAL); /* not pending */
    CHECK_EQ(weft_future_cancel(f), EBUSY);                         /* running */
    CHECK_EQ(weft_future_set_result(f, &value), 0);
    CHECK(weft_future_done(f) && !weft_future_running(f) && !weft_future_cancelled(f));
    void *res = NULL;
    CHECK_EQ(weft_future_result(f, 0, &res), 0);
    CHECK(res == &value);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_future_set_result(f, NULL), EINVAL); /* already done */
    CHECK_EQ(weft_future_set_error(f, EIO), EINVAL);
    CHECK_EQ(weft_future_cancel(f), EBUSY); /* finished */
    CHECK_EQ(weft_future_set_running_or_notify_cancel(f), EINVAL);
    res = NULL;
    CHECK_EQ(weft_future_result(f, 0, &res), 0); /* unchanged */
    CHECK(res == &value);
    weft_future_release(f);

    /* set_error straight from PENDING. */
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_set_error(f, EIO), 0);
    CHECK(weft_future_done(f));
    res = &value;
    CHECK_EQ(weft_future_result(f, 0, &res), EIO);
    CHECK(res == NULL); /* the result the "task" left */
    weft_future_release(f);
}

static void cancel_pending(void)
{
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_cancel(f), 0);
    CHECK(weft_future_cancelled(f) && weft_future_done(f) && !weft_future_running(f));
    CHECK_EQ(weft_future_cancel(f), 0); /* already cancelled: still 0, as Python's True */
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), ECANCELED);
    CHECK_EQ(weft_future_set_running_or_notify_cancel(f), ECANCELED);
    CHECK_EQ(weft_future_set_result(f, NULL), EINVAL);
    CHECK(weft_future_cancelled(f));
    weft_future_release(f);
}

static void timeouts_never_early(void)
{
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_result(f, 0, NULL), ETIMEDOUT);
    int64_t timeouts[] = {WEFT_MS(1), WEFT_MS(10), WEFT_MS(25)};
    for (size_t i = 0; i < sizeof timeouts / sizeof timeouts[0]; i++) {
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_future_result(f, timeouts[i], NULL), ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= timeouts[i]);
    }
    weft_deadline d = weft_deadline_in(WEFT_MS(5));
    CHECK_EQ(weft_future_result_until(f, d, NULL), ETIMEDOUT);
    CHECK(weft_deadline_passed(d));
    CHECK(!weft_future_done(f)); /* the waits left nothing behind */
    CHECK_EQ(weft_future_set_result(f, NULL), 0);
    CHECK_EQ(weft_future_result(f, WEFT_MS(1), NULL), 0);
    weft_future_release(f);
}

/* A thread that finishes a future after a delay. */
struct finisher {
    weft_future *f;
    int64_t delay_ns;
    int error; /* 0: set_result(&token) */
    bool cancel;
};
static int token;

static void *finish_later(void *arg)
{
    struct finisher *fin = arg;
    usleep((useconds_t)(fin->delay_ns / 1000));
    if (fin->cancel)
        CHECK_EQ(weft_future_cancel(fin->f), 0);
    else if (fin->error)
        CHECK_EQ(weft_future_set_error(fin->f, fin->error), 0);
    else
        CHECK_EQ(weft_future_set_result(fin->f, &token), 0);
    return NULL;
}

/* Finishes several futures one after the other, from one thread: their
 * completion order is then fixed whatever the scheduling. */
struct sequence {
    struct finisher *fins;
    int n;
};

static void *finish_in_order(void *arg)
{
    struct sequence *seq = arg;
    for (int i = 0; i < seq->n; i++)
        finish_later(&seq->fins[i]);
    return NULL;
}

static pthread_t start_finisher(struct finisher *fin)
{
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, finish_later, fin), 0);
    return th;
}

static void sleepers_are_woken(void)
{
    /* Several threads sleep on one future; all wake with the result. */
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    struct finisher fin = {f, WEFT_MS(20), 0, false};
    pthread_t th = start_finisher(&fin);
    void *res = NULL;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &res), 0);
    CHECK(res == &token);
    pthread_join(th, NULL);
    weft_future_release(f);

    /* Woken by an error, and by a cancel. */
    CHECK_EQ(weft_future_create(&f), 0);
    fin = (struct finisher){f, WEFT_MS(10), EPROTO, false};
    th = start_finisher(&fin);
    CHECK_EQ(weft_future_result(f, WEFT_SEC(30), NULL), EPROTO);
    pthread_join(th, NULL);
    weft_future_release(f);

    CHECK_EQ(weft_future_create(&f), 0);
    fin = (struct finisher){f, WEFT_MS(10), 0, true};
    th = start_finisher(&fin);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), ECANCELED);
    pthread_join(th, NULL);
    weft_future_release(f);
}

/* Callbacks record their order. */
static int cb_log[16];
static _Atomic int cb_count;

static void record(weft_future *f, void *arg)
{
    CHECK(weft_future_done(f));
    int i = atomic_fetch_add(&cb_count, 1);
    CHECK(i < 16);
    cb_log[i] = (int)(intptr_t)arg;
}

static void done_callbacks(void)
{
    atomic_store(&cb_count, 0);
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(weft_future_add_done_callback(f, record, (void *)(intptr_t)i), 0);
    CHECK_EQ(atomic_load(&cb_count), 0);
    CHECK_EQ(weft_future_set_result(f, NULL), 0);
    CHECK_EQ(atomic_load(&cb_count), 5); /* ran on this thread, before set_result returned */
    for (int i = 0; i < 5; i++)
        CHECK_EQ(cb_log[i], i); /* in the order added */
    /* Added after completion: runs at once. */
    CHECK_EQ(weft_future_add_done_callback(f, record, (void *)(intptr_t)9), 0);
    CHECK_EQ(atomic_load(&cb_count), 6);
    CHECK_EQ(cb_log[5], 9);
    weft_future_release(f);

    /* Cancelling runs them too, exactly once. */
    atomic_store(&cb_count, 0);
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_add_done_callback(f, record, (void *)(intptr_t)1), 0);
    CHECK_EQ(weft_future_cancel(f), 0);
    CHECK_EQ(weft_future_cancel(f), 0);
    CHECK_EQ(atomic_load(&cb_count), 1);
    weft_future_release(f);

    /* A future released while its callbacks are still pending frees them. */
    CHECK_EQ(weft_future_create(&f), 0);
    CHECK_EQ(weft_future_add_done_callback(f, record, NULL), 0);
    weft_future_release(f); /* asan: no leak */
}

static void release_in_callback(weft_future *f, void *arg)
{
    (void)arg;
    weft_future_release(f);
}

static void callback_may_release(void)
{
    /* The common C idiom: hand the reference to the callback. */
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    weft_future_retain(f);
    CHECK_EQ(weft_future_add_done_callback(f, release_in_callback, NULL), 0);
    struct finisher fin = {f, WEFT_MS(5), 0, false};
    pthread_t th = start_finisher(&fin);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    pthread_join(th, NULL);
    weft_future_release(f); /* ours; the callback dropped the other */
}

static void wait_arguments(void)
{
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    weft_future *fs[2] = {f, NULL};
    CHECK_EQ(weft_futures_wait(NULL, 1, 0, WEFT_ALL_COMPLETED), EINVAL);
    CHECK_EQ(weft_futures_wait(fs, 2, 0, WEFT_ALL_COMPLETED), EINVAL);
    CHECK_EQ(weft_futures_wait(fs, 1, 0, 0), EINVAL);
    CHECK_EQ(weft_futures_wait(fs, 1, 0, 7), EINVAL);
    CHECK_EQ(weft_futures_wait(NULL, 0, 0, WEFT_ALL_COMPLETED), 0);
    CHECK_EQ(weft_futures_wait(fs, 0, WEFT_FOREVER, WEFT_FIRST_COMPLETED), 0);
    /* return_when is checked first, even with nothing to wait for. */
    CHECK_EQ(weft_futures_wait(NULL, 0, 0, 7), EINVAL);
    CHECK_EQ(weft_futures_wait(fs, 0, WEFT_FOREVER, 0), EINVAL);
    CHECK_EQ(weft_futures_wait_until(NULL, 0, WEFT_DEADLINE_NEVER, -1), EINVAL);
    CHECK_EQ(weft_futures_wait(fs, 1, 0, WEFT_FIRST_COMPLETED), ETIMEDOUT);
    weft_future_release(f);
}

static void wait_conditions(void)
{
    enum { N = 20 }; /* over the on-stack watch count */
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_future_create(&fs[i]), 0);
    for (int rw = WEFT_FIRST_COMPLETED; rw <= WEFT_ALL_COMPLETED; rw++) {
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_futures_wait(fs, N, WEFT_MS(5), rw), ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= WEFT_MS(5));
    }
    /* One finishes later: FIRST_COMPLETED returns, the others time out. */
    struct finisher fin = {fs[7], WEFT_MS(10), 0, false};
    pthread_t th = start_finisher(&fin);
    CHECK_EQ(weft_futures_wait(fs, N, WEFT_SEC(30), WEFT_FIRST_COMPLETED), 0);
    pthread_join(th, NULL);
    CHECK(weft_future_done(fs[7]) && !weft_future_done(fs[6]));
    CHECK_EQ(weft_futures_wait(fs, N, WEFT_MS(2), WEFT_FIRST_EXCEPTION), ETIMEDOUT);
    /* A cancel is not an exception. */
    CHECK_EQ(weft_future_cancel(fs[3]), 0);
    CHECK_EQ(weft_futures_wait(fs, N, WEFT_MS(2), WEFT_FIRST_EXCEPTION), ETIMEDOUT);
    /* An error later wakes FIRST_EXCEPTION. */
    fin = (struct finisher){fs[12], WEFT_MS(10), EIO, false};
    th = start_finisher(&fin);
    CHECK_EQ(weft_futures_wait(fs, N, WEFT_FOREVER, WEFT_FIRST_EXCEPTION), 0);
    pthread_join(th, NULL);
    CHECK(weft_future_done(fs[12]));
    CHECK_EQ(weft_futures_wait(fs, N, 0, WEFT_FIRST_EXCEPTION), 0); /* already met */
    /* ALL_COMPLETED: the rest finish from another thread, one by one. */
    pthread_t ths[N];
    struct finisher fins[N];
    int started = 0;
    for (int i = 0; i < N; i++) {
        if (weft_future_done(fs[i]))
            continue;
        fins[started] = (struct finisher){fs[i], WEFT_MS(1) * (i % 5), 0, false};
        ths[started] = start_finisher(&fins[started]);
        started++;
    }
    CHECK_EQ(weft_futures_wait(fs, N, WEFT_FOREVER, WEFT_ALL_COMPLETED), 0);
    for (int i = 0; i < N; i++)
        CHECK(weft_future_done(fs[i]));
    for (int i = 0; i < started; i++)
        pthread_join(ths[i], NULL);
    /* Duplicates are fine. */
    weft_future *dup[3] = {fs[0], fs[0], fs[1]};
    CHECK_EQ(weft_futures_wait(dup, 3, 0, WEFT_ALL_COMPLETED), 0);
    for (int i = 0; i < N; i++)
        weft_future_release(fs[i]);
}

static void wait_with_duplicates_pending(void)
{
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    weft_future *dup[2] = {f, f};
    struct finisher fin = {f, WEFT_MS(5), 0, false};
    pthread_t th = start_finisher(&fin);
    CHECK_EQ(weft_futures_wait(dup, 2, WEFT_FOREVER, WEFT_ALL_COMPLETED), 0);
    pthread_join(th, NULL);
    weft_future_release(f);
}

/* as_completed: collects the order futures come back in. */
struct collected {
    weft_future *order[32];
    int n;
    int stop_after; /* 0: never */
};

static int collect(weft_future *f, void *arg)
{
    struct collected *c = arg;
    CHECK(weft_future_done(f));
    CHECK(c->n < 32);
    c->order[c->n++] = f;
    return c->stop_after && c->n == c->stop_after ? 77 : 0;
}

static void as_completed_arguments(void)
{
    struct collected c = {0};
    weft_future *f;
    CHECK_EQ(weft_future_create(&f), 0);
    weft_future *fs[2] = {f, NULL};
    CHECK_EQ(weft_futures_as_completed(NULL, 1, 0, collect, &c), EINVAL);
    CHECK_EQ(weft_futures_as_completed(fs, 2, 0, collect, &c), EINVAL);
    CHECK_EQ(weft_futures_as_completed(fs, 1, 0, NULL, &c), EINVAL);
    CHECK_EQ(weft_futures_as_completed(NULL, 0, 0, collect, &c), 0);
    CHECK_EQ(c.n, 0);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_futures_as_completed(fs, 1, WEFT_MS(5), collect, &c), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(5));
    CHECK_EQ(c.n, 0);
    weft_future_release(f);
}

static void as_completed_order(void)
{
    enum { N = 6 };
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_future_create(&fs[i]), 0);
    /* fs[4] and fs[1] are done first (in that completion order, but handed back
     * in the order given); the others finish one after the other, in reverse. */
    CHECK_EQ(weft_future_set_result(fs[4], NULL), 0);
    CHECK_EQ(weft_future_cancel(fs[1]), 0);
    struct finisher fins[4] = {
        {fs[5], WEFT_MS(5), 0, false},
        {fs[3], WEFT_MS(1), EIO, false},
        {fs[2], 0, 0, true},
        {fs[0], WEFT_MS(1), 0, false},
    };
    struct sequence seq = {fins, 4};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, finish_in_order, &seq), 0);
    /* Repeats come back once. */
    weft_future *in[N + 2] = {fs[0], fs[1], fs[2], fs[3], fs[4], fs[5], fs[4], fs[0]};
    struct collected c = {0};
    CHECK_EQ(weft_futures_as_completed(in, N + 2, WEFT_FOREVER, collect, &c), 0);
    CHECK_EQ(c.n, N);
    weft_future *want[N] = {fs[1], fs[4], fs[5], fs[3], fs[2], fs[0]};
    for (int i = 0; i < N; i++)
        CHECK(c.order[i] == want[i]);
    pthread_join(th, NULL);

    /* fn stops the loop early with its return value. */
    c = (struct collected){.stop_after = 2};
    CHECK_EQ(weft_futures_as_completed(fs, N, WEFT_FOREVER, collect, &c), 77);
    CHECK_EQ(c.n, 2);
    for (int i = 0; i < N; i++)
        weft_future_release(fs[i]);
}

static int collect_and_release(weft_future *f, void *arg)
{
    (*(int *)arg)++;
    weft_future_release(f);
    return 0;
}

static void as_completed_timeout_and_release(void)
{
    enum { N = 4 };
    weft_future *fs[N];
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_future_create(&fs[i]), 0);
    weft_future_retain(fs[0]);
    weft_future_retain(fs[2]);
    CHECK_EQ(weft_future_set_result(fs[0], NULL), 0);
    struct finisher fin = {fs[2], WEFT_MS(5), 0, false};
    pthread_t th = start_finisher(&fin);
    /* fs[1] and fs[3] never finish: ETIMEDOUT after handing back the two others,
     * which fn releases (as_completed must not touch them afterwards). */
    int handed = 0;
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_futures_as_completed(fs, N, WEFT_MS(40), collect_and_release, &handed),
             ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(40));
    CHECK_EQ(handed, 2);
    pthread_join(th, NULL);
    for (int i = 0; i < N; i++)
        weft_future_release(fs[i]);
}

TEST_MAIN(TEST(create_and_release), TEST(null_arguments), TEST(set_result_and_error),
          TEST(cancel_pending), TEST(timeouts_never_early), TEST(sleepers_are_woken),
          TEST(done_callbacks), TEST(callback_may_release), TEST(wait_arguments),
          TEST(wait_conditions), TEST(wait_with_duplicates_pending),
          TEST(as_completed_arguments), TEST(as_completed_order),
          TEST(as_completed_timeout_and_release))
