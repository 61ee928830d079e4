/* weft_barrier: every verb and error code; indices distinct per cycle; the
 * action once per cycle, in the last arrival, before anyone is released; breaking
 * by timeout (that waiter ETIMEDOUT, the others EPIPE), by a failing action, by
 * abort (until reset); reset waking the waiters with EPIPE and making it usable;
 * the default timeout; a complete cycle surviving an abort in its action; an
 * action waiting on its own barrier (EDEADLK). */
#include "check.h"

#include <unistd.h>

static void bad_input(void)
{
    weft_barrier b;
    memset(&b, 0, sizeof b);
    CHECK_EQ(weft_barrier_init(NULL, 2, NULL, NULL, WEFT_FOREVER), EINVAL);
    CHECK_EQ(weft_barrier_init(&b, 0, NULL, NULL, WEFT_FOREVER), EINVAL);
    CHECK_EQ(weft_barrier_init(&b, WEFT_BARRIER_MAX_PARTIES + 1, NULL, NULL, WEFT_FOREVER),
             EINVAL);
    CHECK_EQ(b.parties, 0); /* nothing changed */
    /* Never set up (all-zero) or NULL. */
    uint32_t index = 77;
    CHECK_EQ(weft_barrier_wait(&b, WEFT_FOREVER, &index), EINVAL);
    CHECK_EQ(weft_barrier_wait_until(&b, WEFT_DEADLINE_NEVER, &index), EINVAL);
    CHECK_EQ(weft_barrier_wait(NULL, WEFT_FOREVER, &index), EINVAL);
    CHECK_EQ(index, 77);
    CHECK_EQ(weft_barrier_reset(&b), EINVAL);
    CHECK_EQ(weft_barrier_abort(&b), EINVAL);
    CHECK_EQ(weft_barrier_reset(NULL), EINVAL);
    CHECK_EQ(weft_barrier_abort(NULL), EINVAL);
    CHECK_EQ(weft_barrier_parties(NULL), 0);
    CHECK_EQ(weft_barrier_n_waiting(NULL), 0);
    CHECK(!weft_barrier_broken(NULL));
    CHECK_EQ(weft_barrier_init(&b, WEFT_BARRIER_MAX_PARTIES, NULL, NULL, WEFT_FOREVER), 0);
    CHECK_EQ(weft_barrier_parties(&b), WEFT_BARRIER_MAX_PARTIES);
}

static int action_calls;
static pthread_t action_thread;

static int count_action(void *arg)
{
    (void)arg;
    action_calls++;
    action_thread = pthread_self();
    return 0;
}

static void one_party(void)
{
    weft_barrier b;
    CHECK_EQ(weft_barrier_init(&b, 1, count_action, NULL, WEFT_FOREVER), 0);
    action_calls = 0;
    for (int i = 0; i < 5; i++) {
        uint32_t index = 9;
        CHECK_EQ(weft_barrier_wait(&b, 0, &index), 0); /* never blocks: completes at once */
        CHECK_EQ(index, 0);
        CHECK_EQ(action_calls, i + 1);
        CHECK(pthread_equal(action_thread, pthread_self()));
    }
    CHECK_EQ(weft_barrier_wait(&b, WEFT_FOREVER, NULL), 0); /* index is optional */
    CHECK_EQ(weft_barrier_n_waiting(&b), 0);
    CHECK(!weft_barrier_broken(&b));
    weft_barrier s = WEFT_BARRIER_INIT(1);
    CHECK_EQ(weft_barrier_wait(&s, WEFT_BARRIER_DEFAULT, NULL), 0);
    CHECK_EQ(weft_barrier_parties(&s), 1);
}

/* ---- a cycle: indices, the action's place ----------------------------------------- */

enum { N = 5 };
static weft_barrier barrier;
static _Atomic int arrived, released;
static int before[N]; /* written before the barrier by each thread, read by the action */
static bool action_saw_all;

typedef struct {
    int id;
    int64_t timeout;
    int result;
    uint32_t index;
    pthread_t self;
    int64_t elapsed;
} party_arg;

static void *party(void *p)
{
    party_arg *a = p;
    a->self = pthread_self();
    before[a->id] = 1;
    atomic_fetch_add(&arrived, 1);
    int64_t t0 = weft_now_ns();
    a->result = weft_barrier_wait(&barrier, a->timeout, &a->index);
    a->elapsed = weft_now_ns() - t0;
    if (a->result == 0 && barrier.action)
        CHECK(action_calls >= 1); /* the action ran before anyone was released */
    atomic_fetch_add(&released, 1);
    return NULL;
}

static int checking_action(void *arg)
{
    (void)arg;
    CHECK_EQ(atomic_load(&released), 0);
    bool all = true;
    for (int i = 0; i < N; i++)
        all &= before[i] == 1; /* every party's work before the barrier is visible */
    action_saw_all = all;
    return count_action(NULL);
}

static void reset_globals(void)
{
    atomic_store(&arrived, 0);
    atomic_store(&released, 0);
    memset(before, 0, sizeof before);
    action_calls = 0;
    action_saw_all = false;
}

static void cycle_indices_and_action(void)
{
    for (int round = 0; round < 5; round++) {
        reset_globals();
        CHECK_EQ(weft_barrier_init(&barrier, N, checking_action, NULL, WEFT_FOREVER), 0);
        pthread_t th[N];
        party_arg args[N];
        for (int i = 0; i < N; i++) {
            args[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
            if (i < N - 1) {
                CHECK_EQ(pthread_create(&th[i], NULL, party, &args[i]), 0);
                /* Arrivals are counted in order; check n_waiting along the way. */
                EVENTUALLY(weft_barrier_n_waiting(&barrier) == (uint32_t)i + 1);
            }
        }
        CHECK_EQ(action_calls, 0);
        CHECK_EQ(atomic_load(&released), 0);
        CHECK_EQ(pthread_create(&th[N - 1], NULL, party, &args[N - 1]), 0);
        unsigned seen = 0;
        for (int i = 0; i < N; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(args[i].result, 0);
            CHECK(args[i].index < N);
            seen |= 1u << args[i].index;
            /* Arrival order is the index order here (each waited for the previous). */
            CHECK_EQ(args[i].index, (uint32_t)i);
        }
        CHECK_EQ(seen, (1u << N) - 1); /* distinct */
        CHECK_EQ(action_calls, 1);
        CHECK(action_saw_all);
        CHECK(pthread_equal(action_thread, args[N - 1].self)); /* ran by the last arrival */
        CHECK_EQ(weft_barrier_n_waiting(&barrier), 0);
        CHECK(!weft_barrier_broken(&barrier));
    }
}

/* ---- breaking ---------------------------------------------------------------------- */

static void start_parties(pthread_t *th, party_arg *args, int n)
{
    for (int i = 0; i < n; i++) {
        CHECK_EQ(pthread_create(&th[i], NULL, party, &args[i]), 0);
        EVENTUALLY(atomic_load(&arrived) == i + 1);
    }
}

static void timeout_breaks_it(void)
{
    reset_globals();
    CHECK_EQ(weft_barrier_init(&barrier, 3, count_action, NULL, WEFT_FOREVER), 0);
    pthread_t th[2];
    party_arg args[2] = {{.id = 0, .timeout = WEFT_FOREVER}, {.id = 1, .timeout = WEFT_MS(30)}};
    start_parties(th, args, 2);
    pthread_join(th[1], NULL);
    pthread_join(th[0], NULL);
    CHECK_EQ(args[1].result, ETIMEDOUT);
    CHECK(args[1].elapsed >= WEFT_MS(30)); /* never early */
    CHECK_EQ(args[0].result, EPIPE);
    CHECK(weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 0);
    CHECK_EQ(action_calls, 0);
    /* Broken until reset: arrivals fail at once, even with a timeout of 0. */
    CHECK_EQ(weft_barrier_wait(&barrier, WEFT_FOREVER, NULL), EPIPE);
    CHECK_EQ(weft_barrier_wait(&barrier, 0, NULL), EPIPE);
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    CHECK(!weft_barrier_broken(&barrier));

    /* Usable again: a full cycle. */
    reset_globals();
    pthread_t full[3];
    party_arg fargs[3];
    for (int i = 0; i < 3; i++)
        fargs[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
    start_parties(full, fargs, 3);
    for (int i = 0; i < 3; i++) {
        pthread_join(full[i], NULL);
        CHECK_EQ(fargs[i].result, 0);
    }
    CHECK_EQ(action_calls, 1);

    /* A timeout of 0 for a non-last party breaks it at once. */
    CHECK_EQ(weft_barrier_wait(&barrier, 0, NULL), ETIMEDOUT);
    CHECK(weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    weft_deadline d = weft_deadline_in(WEFT_MS(10));
    CHECK_EQ(weft_barrier_wait_until(&barrier, d, NULL), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
}

static void default_timeout(void)
{
    reset_globals();
    CHECK_EQ(weft_barrier_init(&barrier, 2, NULL, NULL, WEFT_MS(20)), 0);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_barrier_wait(&barrier, WEFT_BARRIER_DEFAULT, NULL), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(20));
    CHECK_EQ(weft_barrier_reset(&barrier), 0);

    /* An explicit timeout overrides the default: WEFT_FOREVER outlasts 20 ms. */
    pthread_t th;
    party_arg a = {.id = 0, .timeout = WEFT_FOREVER};
    start_parties(&th, &a, 1);
    usleep(50000);
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 1);
    CHECK_EQ(weft_barrier_wait(&barrier, WEFT_BARRIER_DEFAULT, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(a.result, 0);
}

static int failing_action(void *arg)
{
    (void)arg;
    action_calls++;
    return -1;
}

static void failing_action_breaks_it(void)
{
    reset_globals();
    CHECK_EQ(weft_barrier_init(&barrier, 3, failing_action, NULL, WEFT_FOREVER), 0);
    pthread_t th[3];
    party_arg args[3];
    for (int i = 0; i < 3; i++)
        args[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER, .index = 99};
    start_parties(th, args, 3);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].result, EPIPE); /* the action's own thread too */
        CHECK_EQ(args[i].index, 99);     /* untouched on failure */
    }
    CHECK_EQ(action_calls, 1);
    CHECK(weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_wait(&barrier, WEFT_FOREVER, NULL), EPIPE);
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    CHECK(!weft_barrier_broken(&barrier));
}

static void abort_until_reset(void)
{
    reset_globals();
    CHECK_EQ(weft_barrier_init(&barrier, 3, count_action, NULL, WEFT_FOREVER), 0);
    pthread_t th[2];
    party_arg args[2] = {{.id = 0, .timeout = WEFT_FOREVER}, {.id = 1, .timeout = WEFT_SEC(60)}};
    start_parties(th, args, 2);
    EVENTUALLY(weft_barrier_n_waiting(&barrier) == 2);
    CHECK_EQ(weft_barrier_abort(&barrier), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].result, EPIPE);
    }
    CHECK(weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_abort(&barrier), 0); /* again: no change */
    CHECK(weft_barrier_broken(&barrier));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_barrier_wait(&barrier, WEFT_FOREVER, NULL), EPIPE);
    CHECK_EQ(action_calls, 0);
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    CHECK(!weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_reset(&barrier), 0); /* reset of a fresh barrier: no change */
    /* Abort of an idle barrier breaks it too. */
    CHECK_EQ(weft_barrier_abort(&barrier), 0);
    CHECK(weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_wait(&barrier, 0, NULL), EPIPE);
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 0);
}

static void reset_wakes_waiters(void)
{
    reset_globals();
    CHECK_EQ(weft_barrier_init(&barrier, 4, count_action, NULL, WEFT_FOREVER), 0);
    pthread_t th[3];
    party_arg args[3];
    for (int i = 0; i < 3; i++)
        args[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
    start_parties(th, args, 3);
    EVENTUALLY(weft_barrier_n_waiting(&barrier) == 3);
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    CHECK(!weft_barrier_broken(&barrier)); /* a reset is not a break */
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].result, EPIPE);
    }
    CHECK_EQ(action_calls, 0);
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 0);
    /* Usable at once for a full cycle. */
    reset_globals();
    pthread_t full[4];
    party_arg fargs[4];
    for (int i = 0; i < 4; i++)
        fargs[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
    start_parties(full, fargs, 4);
    for (int i = 0; i < 4; i++) {
        pthread_join(full[i], NULL);
        CHECK_EQ(fargs[i].result, 0);
    }
    CHECK_EQ(action_calls, 1);
}

/* A cycle whose last party arrived is complete: an abort (or reset) from inside
 * the action does not undo it; the abort holds for the next cycle. */
static int abort_action(void *arg)
{
    action_calls++;
    CHECK_EQ(weft_barrier_abort(&barrier), 0);
    CHECK(weft_barrier_broken(&barrier));
    if (arg) /* then take it back */
        CHECK_EQ(weft_barrier_reset(&barrier), 0);
    return 0;
}

static void complete_cycle_survives_abort(void)
{
    for (int undo = 0; undo < 2; undo++) {
        reset_globals();
        CHECK_EQ(weft_barrier_init(&barrier, 3, abort_action, undo ? &barrier : NULL,
                                   WEFT_FOREVER),
                 0);
        pthread_t th[3];
        party_arg args[3];
        for (int i = 0; i < 3; i++)
            args[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
        start_parties(th, args, 3);
        for (int i = 0; i < 3; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(args[i].result, 0);
        }
        CHECK_EQ(action_calls, 1);
        CHECK_EQ(weft_barrier_broken(&barrier), !undo);
        CHECK_EQ(weft_barrier_wait(&barrier, 0, NULL), undo ? ETIMEDOUT : EPIPE);
    }
}

/* An arrival while the action runs waits for it, then joins the next cycle;
 * if its timeout passes before it could join, it returns ETIMEDOUT without
 * breaking the barrier (it never waited in a cycle). */
static _Atomic bool in_action, outsider_done;

static int blocking_action(void *arg)
{
    (void)arg;
    action_calls++;
    atomic_store(&in_action, true);
    EVENTUALLY(atomic_load(&outsider_done)); /* holds the cycle until the test is done */
    return 0;
}

static void arrival_during_action(void)
{
    reset_globals();
    atomic_store(&in_action, false);
    atomic_store(&outsider_done, false);
    CHECK_EQ(weft_barrier_init(&barrier, 3, blocking_action, NULL, WEFT_FOREVER), 0);
    pthread_t th[3];
    party_arg args[3];
    for (int i = 0; i < 3; i++)
        args[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
    start_parties(th, args, 3);
    EVENTUALLY(atomic_load(&in_action));
    uint32_t index = 99;
    CHECK_EQ(weft_barrier_wait(&barrier, 0, &index), ETIMEDOUT);
    weft_deadline d = weft_deadline_in(WEFT_MS(5));
    CHECK_EQ(weft_barrier_wait_until(&barrier, d, &index), ETIMEDOUT);
    CHECK(weft_now_ns() >= d.ns);
    CHECK_EQ(index, 99);
    CHECK(!weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 0); /* completing */
    atomic_store(&outsider_done, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].result, 0);
    }
    CHECK(!weft_barrier_broken(&barrier));

    /* Now an arrival that waits for the action joins the next cycle. */
    reset_globals();
    atomic_store(&in_action, false);
    atomic_store(&outsider_done, false);
    for (int i = 0; i < 3; i++)
        args[i] = (party_arg){.id = i, .timeout = WEFT_FOREVER};
    start_parties(th, args, 3);
    EVENTUALLY(atomic_load(&in_action));
    pthread_t late;
    party_arg late_arg = {.id = 3, .timeout = WEFT_FOREVER};
    CHECK_EQ(pthread_create(&late, NULL, party, &late_arg), 0);
    usleep(10000); /* (most likely) let it arrive during the action */
    atomic_store(&outsider_done, true);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].result, 0);
    }
    EVENTUALLY(weft_barrier_n_waiting(&barrier) == 1); /* alone in the next cycle */
    pthread_t second;
    party_arg second_arg = {.id = 4, .timeout = WEFT_FOREVER};
    CHECK_EQ(pthread_create(&second, NULL, party, &second_arg), 0);
    EVENTUALLY(weft_barrier_n_waiting(&barrier) == 2);
    CHECK_EQ(weft_barrier_wait(&barrier, WEFT_FOREVER, &index), 0); /* the third: runs the action */
    CHECK_EQ(index, 2);
    pthread_join(late, NULL);
    pthread_join(second, NULL);
    CHECK_EQ(late_arg.result, 0);
    CHECK_EQ(late_arg.index, 0);
    CHECK_EQ(second_arg.result, 0);
    CHECK_EQ(second_arg.index, 1);
    CHECK_EQ(action_calls, 2);
}

/* A waiter whose deadline passes while the action of its complete cycle runs
 * still returns 0. The scenario needs the last party to arrive before that
 * deadline; a run where it did not (the waiter broke the barrier) is retried. */
static weft_deadline waiter_deadline;

static int outlasting_action(void *arg)
{
    (void)arg;
    action_calls++;
    while (weft_now_ns() < waiter_deadline.ns + WEFT_MS(2))
        usleep(1000);
    return 0;
}

static void *deadline_party(void *p)
{
    party_arg *a = p;
    atomic_fetch_add(&arrived, 1);
    a->result = weft_barrier_wait_until(&barrier, waiter_deadline, &a->index);
    return NULL;
}

static void deadline_during_action(void)
{
    for (int attempt = 0;; attempt++) {
        CHECK(attempt < 20);
        reset_globals();
        CHECK_EQ(weft_barrier_init(&barrier, 2, outlasting_action, NULL, WEFT_FOREVER), 0);
        waiter_deadline = weft_deadline_in(WEFT_MS(100));
        pthread_t th;
        party_arg a = {.id = 0};
        CHECK_EQ(pthread_create(&th, NULL, deadline_party, &a), 0);
        EVENTUALLY(weft_barrier_n_waiting(&barrier) == 1 || weft_barrier_broken(&barrier));
        uint32_t index;
        int rc = weft_barrier_wait(&barrier, WEFT_FOREVER, &index);
        pthread_join(th, NULL);
        if (rc == EPIPE) { /* we came after its deadline: try again */
            CHECK_EQ(a.result, ETIMEDOUT);
            continue;
        }
        CHECK_EQ(rc, 0);
        CHECK_EQ(index, 1);
        CHECK_EQ(a.result, 0); /* its deadline passed during the action: still complete */
        CHECK_EQ(a.index, 0);
        CHECK(!weft_barrier_broken(&barrier));
        CHECK_EQ(action_calls, 1);
        break;
    }
}

/* ---- an action that waits on its own barrier ------------------------------------- */

/* The action runs in the last arrival, so a wait on its own barrier could only wait
 * for itself: EDEADLK, at once, changing nothing. The bounded timeouts keep a
 * regression from hanging (it would return ETIMEDOUT). */
static weft_barrier self_b, other_b;
static int rc_self, rc_self_until, rc_other, rc_inner;

static int inner_action(void *arg)
{
    (void)arg;
    rc_inner = weft_barrier_wait(&self_b, WEFT_MS(50), NULL);
    return 0;
}

static int outer_action(void *arg)
{
    (void)arg;
    rc_self = weft_barrier_wait(&self_b, WEFT_MS(50), NULL);
    rc_self_until = weft_barrier_wait_until(&self_b, weft_deadline_in(WEFT_MS(50)), NULL);
    CHECK(!weft_barrier_broken(&self_b));
    /* Another barrier is fine, and its action (run here too) is caught in turn. */
    rc_other = weft_barrier_wait(&other_b, WEFT_MS(50), NULL);
    return 0;
}

static void *self_b_party(void *p)
{
    *(int *)p = weft_barrier_wait(&self_b, WEFT_FOREVER, NULL);
    return NULL;
}

static void action_waiting_on_itself(void)
{
    CHECK_EQ(weft_barrier_init(&self_b, 2, outer_action, NULL, WEFT_FOREVER), 0);
    CHECK_EQ(weft_barrier_init(&other_b, 1, inner_action, NULL, WEFT_FOREVER), 0);
    rc_self = rc_self_until = rc_other = rc_inner = -1;
    int rc_party = -1;
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, self_b_party, &rc_party), 0);
    CHECK_EQ(weft_barrier_wait(&self_b, WEFT_FOREVER, NULL), 0);
    pthread_join(th, NULL);
    CHECK_EQ(rc_party, 0); /* the cycle completed */
    CHECK_EQ(rc_self, EDEADLK);
    CHECK_EQ(rc_self_until, EDEADLK);
    CHECK_EQ(rc_other, 0);
    CHECK_EQ(rc_inner, EDEADLK); /* other_b's action, inside self_b's */
    CHECK(!weft_barrier_broken(&self_b));
    CHECK_EQ(weft_barrier_n_waiting(&self_b), 0);

    /* Outside self_b's action the same wait is an ordinary arrival: it times out
     * (breaking self_b) instead of reporting a deadlock. */
    CHECK_EQ(weft_barrier_wait(&other_b, 0, NULL), 0);
    CHECK_EQ(rc_inner, ETIMEDOUT);
    CHECK(weft_barrier_broken(&self_b));
}

TEST_MAIN(TEST(bad_input), TEST(one_party), TEST(cycle_indices_and_action),
          TEST(timeout_breaks_it), TEST(default_timeout), TEST(failing_action_breaks_it),
          TEST(abort_until_reset), TEST(reset_wakes_waiters), TEST(complete_cycle_survives_abort),
          TEST(arrival_during_action), TEST(deadline_during_action),
          TEST(action_waiting_on_itself))
