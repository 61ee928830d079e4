/* weft_timer: every verb and error code; never fires before its interval; one
 * shared service thread (started on demand, gone when nothing is pending);
 * cancel before, during (waits for the function) and after the run; restart from
 * inside the function; due-time order, start order for ties; freeing from inside
 * the function; 10^5 pending timers. */
#include "check.h"

#include <unistd.h>

/* Hidden in the library, reachable from the static build. */
bool wf_timer_service_alive(void);

typedef struct {
    _Atomic int runs;
    int64_t not_before; /* the earliest instant it may fire */
    int64_t fired_at;
    pthread_t thread;
    int64_t sleep_ns;   /* how long the function takes */
    _Atomic bool started, finished;
} record;

static void free_self_never(void *arg)
{
    (void)arg;
    CHECK(!"a timer whose start failed ran");
}

static void note(void *arg)
{
    record *r = arg;
    atomic_store(&r->started, true);
    r->fired_at = weft_now_ns();
    CHECK(r->fired_at >= r->not_before); /* never early */
    r->thread = pthread_self();
    if (r->sleep_ns)
        usleep((useconds_t)(r->sleep_ns / 1000));
    atomic_store(&r->finished, true);
    atomic_fetch_add(&r->runs, 1);
}

static int start_record(weft_timer *t, record *r, int64_t timeout)
{
    r->not_before = weft_now_ns() + timeout;
    return weft_timer_start(t, timeout, note, r);
}

static void bad_input(void)
{
    weft_timer t = WEFT_TIMER_INIT;
    record r = {0};
    CHECK_EQ(weft_timer_start(NULL, 0, note, &r), EINVAL);
    CHECK_EQ(weft_timer_start(&t, 0, NULL, &r), EINVAL);
    CHECK_EQ(weft_timer_start(&t, -1, note, &r), EINVAL);
    CHECK_EQ(weft_timer_start_at(&t, WEFT_DEADLINE_NEVER, note, &r), EINVAL);
    CHECK_EQ(weft_timer_start_at(NULL, weft_deadline_in(0), note, &r), EINVAL);
    CHECK_EQ(weft_timer_cancel(NULL), EINVAL);
    CHECK_EQ(weft_timer_cancel(&t), EINVAL); /* never started */
    CHECK(!weft_timer_pending(&t));
    CHECK(!weft_timer_pending(NULL));
    weft_timer zero;
    memset(&zero, 0, sizeof zero);
    CHECK_EQ(memcmp(&zero, &t, sizeof t), 0); /* WEFT_TIMER_INIT is all-zero */
    CHECK_EQ(atomic_load(&r.runs), 0);
}

static void fires_once_after_interval(void)
{
    int64_t intervals[] = {0, WEFT_MS(1), WEFT_MS(10), WEFT_MS(30)};
    for (size_t i = 0; i < sizeof intervals / sizeof intervals[0]; i++) {
        weft_timer t = WEFT_TIMER_INIT;
        record r = {0};
        CHECK_EQ(start_record(&t, &r, intervals[i]), 0);
        EVENTUALLY(atomic_load(&r.runs) == 1);
        CHECK(!weft_timer_pending(&t));
        CHECK(!pthread_equal(r.thread, pthread_self())); /* on the service thread */
        CHECK_EQ(weft_timer_cancel(&t), EBUSY); /* already ran */
        usleep(5000);
        CHECK_EQ(atomic_load(&r.runs), 1); /* once */
    }
    /* The absolute variant, and a deadline already passed. */
    weft_timer t = WEFT_TIMER_INIT;
    record r = {0};
    weft_deadline d = weft_deadline_in(WEFT_MS(5));
    r.not_before = d.ns;
    CHECK_EQ(weft_timer_start_at(&t, d, note, &r), 0);
    EVENTUALLY(atomic_load(&r.runs) == 1);
    r.not_before = 0;
    CHECK_EQ(weft_timer_start_at(&t, (weft_deadline){0}, note, &r), 0); /* restart: allowed */
    EVENTUALLY(atomic_load(&r.runs) == 2);
}

static void start_while_pending_is_ebusy(void)
{
    weft_timer t = WEFT_TIMER_INIT;
    record r = {0}, other = {0};
    CHECK_EQ(start_record(&t, &r, WEFT_SEC(60)), 0);
    CHECK(weft_timer_pending(&t));
    CHECK_EQ(weft_timer_start(&t, 0, note, &other), EBUSY);
    CHECK(weft_timer_pending(&t)); /* unchanged: still the first start */
    CHECK_EQ(t.arg, (void *)&r);
    CHECK_EQ(weft_timer_cancel(&t), 0);
    CHECK(!weft_timer_pending(&t));
    CHECK_EQ(weft_timer_cancel(&t), 0); /* again: still stopped */
    usleep(5000);
    CHECK_EQ(atomic_load(&r.runs), 0);
    CHECK_EQ(atomic_load(&other.runs), 0);
}

static void cancel_before_it_runs(void)
{
    weft_timer t[4] = {WEFT_TIMER_INIT, WEFT_TIMER_INIT, WEFT_TIMER_INIT, WEFT_TIMER_INIT};
    record r[4] = {{0}};
    for (int i = 0; i < 4; i++)
        CHECK_EQ(start_record(&t[i], &r[i], WEFT_MS(20 + 10 * i)), 0);
    CHECK_EQ(weft_timer_cancel(&t[0]), 0); /* the earliest: the service re-plans */
    CHECK_EQ(weft_timer_cancel(&t[2]), 0);
    EVENTUALLY(atomic_load(&r[1].runs) == 1 && atomic_load(&r[3].runs) == 1);
    usleep(20000);
    CHECK_EQ(atomic_load(&r[0].runs), 0);
    CHECK_EQ(atomic_load(&r[2].runs), 0);
    /* A cancelled timer can be started again. */
    CHECK_EQ(start_record(&t[0], &r[0], 0), 0);
    EVENTUALLY(atomic_load(&r[0].runs) == 1);
}

/* cancel while the function runs: EBUSY, and it returns only once the function
 * has finished (so the timer could be freed). */
static void cancel_while_running_waits(void)
{
    weft_timer t = WEFT_TIMER_INIT;
    record r = {.sleep_ns = WEFT_MS(50)};
    CHECK_EQ(start_record(&t, &r, 0), 0);
    EVENTUALLY(atomic_load(&r.started));
    CHECK_EQ(weft_timer_cancel(&t), EBUSY);
    CHECK(atomic_load(&r.finished)); /* it waited for the function */
    CHECK_EQ(atomic_load(&r.runs), 1);
}

/* cancel from inside the timer's own function: EBUSY at once, no deadlock. */
static weft_timer self_timer = WEFT_TIMER_INIT;
static _Atomic int self_cancel_result = -1;

static void cancel_self(void *arg)
{
    (void)arg;
    atomic_store(&self_cancel_result, weft_timer_cancel(&self_timer));
}

static void cancel_from_inside(void)
{
    CHECK_EQ(weft_timer_start(&self_timer, 0, cancel_self, NULL), 0);
    EVENTUALLY(atomic_load(&self_cancel_result) != -1);
    CHECK_EQ(atomic_load(&self_cancel_result), EBUSY);
}

/* A periodic timer: the function restarts its own timer, drift-free. */
static weft_timer periodic = WEFT_TIMER_INIT;
static _Atomic int ticks;
static int64_t next_due;

static void tick(void *arg)
{
    (void)arg;
    CHECK(weft_now_ns() >= next_due);
    if (atomic_fetch_add(&ticks, 1) + 1 < 5) {
        next_due += WEFT_MS(2);
        CHECK_EQ(weft_timer_start_at(&periodic, weft_deadline_at(next_due), tick, NULL), 0);
        CHECK(weft_timer_pending(&periodic));
    }
}

static void restart_from_inside(void)
{
    next_due = weft_now_ns() + WEFT_MS(2);
    CHECK_EQ(weft_timer_start_at(&periodic, weft_deadline_at(next_due), tick, NULL), 0);
    EVENTUALLY(atomic_load(&ticks) == 5 && !weft_timer_pending(&periodic));
    CHECK_EQ(weft_timer_cancel(&periodic), EBUSY);
    usleep(10000);
    CHECK_EQ(atomic_load(&ticks), 5);
}

/* Due-time order; equal due times in start order; all on one thread. A first
 * timer holds the service thread while the others are started, so that all are
 * due by the time it looks: the order is the heap's alone. */
enum { ORDERED = 12 };
static int order[ORDERED];
static _Atomic int n_order;
static pthread_t order_threads[ORDERED];
static _Atomic bool blocker_running, blocker_release;

static void record_order(void *arg)
{
    int i = atomic_load(&n_order); /* one writer: the service thread */
    order[i] = (int)(intptr_t)arg;
    order_threads[i] = pthread_self();
    atomic_store(&n_order, i + 1); /* publishes the entry */
}

static void blocker(void *arg)
{
    (void)arg;
    atomic_store(&blocker_running, true);
    EVENTUALLY(atomic_load(&blocker_release));
}

static void order_and_one_thread(void)
{
    weft_timer hold = WEFT_TIMER_INIT;
    weft_timer t[ORDERED];
    memset(t, 0, sizeof t);
    atomic_store(&n_order, 0);
    CHECK_EQ(weft_timer_start(&hold, 0, blocker, NULL), 0);
    EVENTUALLY(atomic_load(&blocker_running));
    int64_t base = weft_now_ns();
    /* Timer k is due at base + k / 3 us, started in reverse order of due time,
     * each group of three equal due times in increasing k. */
    for (int group = ORDERED / 3 - 1; group >= 0; group--)
        for (int j = 0; j < 3; j++) {
            int k = group * 3 + j;
            CHECK_EQ(weft_timer_start_at(&t[k], weft_deadline_at(base + group * WEFT_US(1)),
                                         record_order, (void *)(intptr_t)k),
                     0);
        }
    atomic_store(&blocker_release, true);
    EVENTUALLY(atomic_load(&n_order) == ORDERED);
    for (int i = 0; i < ORDERED; i++) {
        CHECK_EQ(order[i], i);
        CHECK(pthread_equal(order_threads[i], order_threads[0])); /* one shared thread */
    }
}

/* The service thread exits when nothing is pending and comes back on demand. */
static void service_thread_comes_and_goes(void)
{
    EVENTUALLY(!wf_timer_service_alive());
    weft_timer t = WEFT_TIMER_INIT;
    record r = {0};
    CHECK_EQ(start_record(&t, &r, WEFT_SEC(60)), 0);
    CHECK(wf_timer_service_alive());
    CHECK_EQ(weft_timer_cancel(&t), 0); /* the last pending one: it goes at once */
    EVENTUALLY(!wf_timer_service_alive());
    CHECK_EQ(start_record(&t, &r, WEFT_MS(1)), 0);
    EVENTUALLY(atomic_load(&r.runs) == 1);
    EVENTUALLY(!wf_timer_service_alive());
}

/* A start that cannot start the service thread fails and changes nothing: not
 * the state, not fn, arg or the due time of the timer's last run. The thread is
 * made unstartable by a default stack no machine can map. */
static void failed_start_changes_nothing(void)
{
    weft_timer t = WEFT_TIMER_INIT, idle = WEFT_TIMER_INIT;
    record r = {0}, other = {0};
    CHECK_EQ(start_record(&t, &r, 0), 0);
    EVENTUALLY(atomic_load(&r.runs) == 1);
    EVENTUALLY(!wf_timer_service_alive());
    weft_timer before = t;

    pthread_attr_t saved, huge;
    CHECK_EQ(pthread_getattr_default_np(&saved), 0);
    CHECK_EQ(pthread_getattr_default_np(&huge), 0);
    CHECK_EQ(pthread_attr_setstacksize(&huge, (size_t)1 << 46), 0);
    CHECK_EQ(pthread_setattr_default_np(&huge), 0);
    int rc = weft_timer_start(&t, WEFT_SEC(60), free_self_never, &other);
    int rc_idle = weft_timer_start(&idle, WEFT_SEC(60), free_self_never, &other);
    CHECK_EQ(pthread_setattr_default_np(&saved), 0);
    pthread_attr_destroy(&huge);
    pthread_attr_destroy(&saved);

    CHECK(rc == EAGAIN || rc == ENOMEM);
    CHECK(rc_idle == EAGAIN || rc_idle == ENOMEM);
    CHECK(!wf_timer_service_alive());
    CHECK(t.fn == before.fn && t.arg == before.arg);
    CHECK_EQ(t.due_ns, before.due_ns);
    CHECK_EQ(t.seq, before.seq);
    CHECK_EQ(atomic_load(&t.state), WEFT_TIMER_FIRED);
    CHECK_EQ(weft_timer_cancel(&t), EBUSY); /* still the timer that ran */
    CHECK(idle.fn == NULL && idle.arg == NULL);
    CHECK_EQ(idle.due_ns, 0);
    CHECK_EQ(weft_timer_cancel(&idle), EINVAL); /* still never started */
    /* The service starts again once it can. */
    CHECK_EQ(start_record(&t, &r, 0), 0);
    EVENTUALLY(atomic_load(&r.runs) == 2);
    EVENTUALLY(!wf_timer_service_alive());
}

/* A heap-allocated one-shot timer freed by its own function. */
typedef struct {
    weft_timer timer;
    _Atomic int *done;
} owned_timer;

static void free_self(void *arg)
{
    owned_timer *o = arg;
    _Atomic int *done = o->done;
    free(o);
    atomic_fetch_add(done, 1);
}

static void freed_from_inside(void)
{
    static _Atomic int done;
    for (int i = 0; i < 10; i++) {
        owned_timer *o = calloc(1, sizeof *o);
        CHECK(o);
        o->done = &done;
        CHECK_EQ(weft_timer_start(&o->timer, WEFT_US(100) * i, free_self, o), 0);
    }
    EVENTUALLY(atomic_load(&done) == 10);
}

/* 10^5 pending timers: start and cancel all (O(log n) each; this would take
 * minutes with a linear list). */
static void many_pending(void)
{
    enum { MANY = 100000 };
    weft_timer *t = calloc(MANY, sizeof *t);
    CHECK(t);
    record r = {0};
    unsigned seed = 7;
    for (int i = 0; i < MANY; i++)
        CHECK_EQ(weft_timer_start(&t[i], WEFT_SEC(3600) + rand_r(&seed) % WEFT_SEC(60), note,
                                  &r),
                 0);
    for (int i = 0; i < MANY; i++)
        CHECK(weft_timer_pending(&t[i]));
    /* Cancel in a scattered order: removal from the middle of the heap. */
    for (int i = 0; i < MANY; i++) {
        int k = (int)(((long)i * 7919) % MANY);
        CHECK_EQ(weft_timer_cancel(&t[k]), 0);
    }
    for (int i = 0; i < MANY; i++)
        CHECK(!weft_timer_pending(&t[i]));
    CHECK_EQ(atomic_load(&r.runs), 0);
    free(t);
    EVENTUALLY(!wf_timer_service_alive());
}

TEST_MAIN(TEST(bad_input), TEST(fires_once_after_interval), TEST(start_while_pending_is_ebusy),
          TEST(cancel_before_it_runs), TEST(cancel_while_running_waits), TEST(cancel_from_inside),
          TEST(restart_from_inside), TEST(order_and_one_thread),
          TEST(service_thread_comes_and_goes), TEST(failed_start_changes_nothing),
          TEST(freed_from_inside), TEST(many_pending))
