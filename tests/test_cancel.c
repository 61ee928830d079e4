/* Cancellation tokens and the core's cancellable sleep: fire is idempotent and
 * sticky, a child counts as fired once an ancestor has, the chain's depth is bounded,
 * a deadline carries its token, and a sleep under a token returns (ETIMEDOUT, mapped
 * to ECANCELED at the boundary) when it fires before, during or never (a sleep that
 * ended first is not touched by a later fire). Also the wait layer's wf_wait_any
 * itself. Run with WF_TEST_FALLBACK=1, the Linux build exercises its parking-lot
 * fallback (a kernel without futex_waitv). */
#include "check.h"
#include "waiting.h"

/* ---- tokens --------------------------------------------------------------------- */

static void fire_is_idempotent_and_sticky(void)
{
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK(!weft_cancel_fired(&c));
    CHECK_EQ(weft_cancel_fire(&c), 0);
    CHECK(weft_cancel_fired(&c));
    CHECK_EQ(weft_cancel_fire(&c), 0);
    CHECK(weft_cancel_fired(&c));
    CHECK_EQ(weft_cancel_init(&c), 0); /* live again, for reuse */
    CHECK(!weft_cancel_fired(&c));
    weft_cancel zero;
    memset(&zero, 0, sizeof zero);
    CHECK(!weft_cancel_fired(&zero)); /* all-zero memory is a live root */
}

static void bad_input(void)
{
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_cancel_init(NULL), EINVAL);
    CHECK_EQ(weft_cancel_fire(NULL), EINVAL);
    CHECK(!weft_cancel_fired(NULL));
    CHECK_EQ(weft_cancel_init_child(NULL, &c), EINVAL);
    CHECK_EQ(weft_cancel_init_child(&c, NULL), EINVAL);
    CHECK_EQ(weft_cancel_init_child(&c, &c), EINVAL);
    /* A child that would be its own ancestor: refused, nothing changes. */
    weft_cancel a = WEFT_CANCEL_INIT, b;
    CHECK_EQ(weft_cancel_init_child(&b, &a), 0);
    CHECK_EQ(weft_cancel_init_child(&a, &b), EINVAL);
    CHECK(a.parent == NULL && a.depth == 0);
    CHECK_EQ(weft_cancel_fire(&a), 0);
    CHECK(weft_cancel_fired(&b));
}

static void child_fires_with_its_ancestors(void)
{
    weft_cancel root = WEFT_CANCEL_INIT, mid, leaf, other;
    CHECK_EQ(weft_cancel_init_child(&mid, &root), 0);
    CHECK_EQ(weft_cancel_init_child(&leaf, &mid), 0);
    CHECK_EQ(weft_cancel_init_child(&other, &root), 0);
    /* Firing a child leaves its parent and siblings live. */
    CHECK_EQ(weft_cancel_fire(&leaf), 0);
    CHECK(weft_cancel_fired(&leaf));
    CHECK(!weft_cancel_fired(&mid) && !weft_cancel_fired(&root) && !weft_cancel_fired(&other));
    /* Firing the root reaches every descendant. */
    CHECK_EQ(weft_cancel_init_child(&leaf, &mid), 0);
    CHECK(!weft_cancel_fired(&leaf));
    CHECK_EQ(weft_cancel_fire(&root), 0);
    CHECK(weft_cancel_fired(&mid) && weft_cancel_fired(&leaf) && weft_cancel_fired(&other));
    /* A child of a fired token counts as fired at once. */
    weft_cancel late;
    CHECK_EQ(weft_cancel_init_child(&late, &leaf), 0);
    CHECK(weft_cancel_fired(&late));
}

static void depth_is_bounded(void)
{
    weft_cancel chain[WEFT_CANCEL_MAX_DEPTH + 1];
    CHECK_EQ(weft_cancel_init(&chain[0]), 0);
    for (int i = 1; i < WEFT_CANCEL_MAX_DEPTH; i++)
        CHECK_EQ(weft_cancel_init_child(&chain[i], &chain[i - 1]), 0);
    CHECK_EQ(wf_cancel_chain_length(&chain[WEFT_CANCEL_MAX_DEPTH - 1]), WEFT_CANCEL_MAX_DEPTH);
    memset(&chain[WEFT_CANCEL_MAX_DEPTH], 0x5a, sizeof chain[0]);
    CHECK_EQ(weft_cancel_init_child(&chain[WEFT_CANCEL_MAX_DEPTH],
                                    &chain[WEFT_CANCEL_MAX_DEPTH - 1]),
             EINVAL);
    CHECK(chain[WEFT_CANCEL_MAX_DEPTH].depth == 0x5a5a5a5au); /* nothing changed */
    CHECK_EQ(weft_cancel_fire(&chain[0]), 0);
    CHECK(weft_cancel_fired(&chain[WEFT_CANCEL_MAX_DEPTH - 1]));
}

static void deadline_carries_the_token(void)
{
    weft_cancel c = WEFT_CANCEL_INIT;
    weft_deadline never = WEFT_DEADLINE_NEVER;
    CHECK(never.cancel == NULL && weft_deadline_in(WEFT_SEC(1)).cancel == NULL);
    CHECK(weft_deadline_at(123).ns == 123 && weft_deadline_at(123).cancel == NULL);
    weft_deadline d = weft_deadline_with_cancel(never, &c);
    CHECK(d.cancel == &c && d.ns == INT64_MAX);
    CHECK(!weft_deadline_passed(d));
    CHECK_EQ(weft_deadline_remaining(d), INT64_MAX);
    CHECK_EQ(wf_cancel_result(ETIMEDOUT, d), ETIMEDOUT); /* a real timeout stays one */
    CHECK_EQ(weft_cancel_fire(&c), 0);
    CHECK(weft_deadline_passed(d)); /* a fired token ends a wait as its deadline does */
    CHECK_EQ(weft_deadline_remaining(d), 0);
    CHECK_EQ(wf_cancel_result(ETIMEDOUT, d), ECANCELED);
    CHECK_EQ(wf_cancel_result(0, d), 0);
    CHECK_EQ(wf_cancel_result(EPIPE, d), EPIPE);
    CHECK_EQ(wf_cancel_result_neg(-ETIMEDOUT, d), -ECANCELED);
    CHECK_EQ(wf_cancel_result_neg(3, d), 3);
    CHECK(weft_deadline_with_cancel(d, NULL).cancel == NULL);
    CHECK(!weft_deadline_passed(weft_deadline_with_cancel(d, NULL)));
}

/* ---- sleeping under a token ------------------------------------------------------ */

static _Atomic uint32_t word;
static _Atomic int asleep, woke;

struct sleeper {
    weft_deadline d;
    int result;
    uint32_t expected;
};

static void *sleeper_fn(void *arg)
{
    struct sleeper *s = arg;
    atomic_fetch_add(&asleep, 1);
    int r;
    /* A caller's loop: spurious returns and word changes to other values go round. */
    while ((r = wf_sleep(&word, s->expected, s->d)) == 0 && atomic_load(&word) == s->expected)
        ;
    s->result = wf_cancel_result(r, s->d);
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static void reset(void)
{
    atomic_store(&word, 0);
    atomic_store(&asleep, 0);
    atomic_store(&woke, 0);
}

static void fired_before_returns_at_once(void)
{
    reset();
    weft_cancel c = WEFT_CANCEL_INIT;
    CHECK_EQ(weft_cancel_fire(&c), 0);
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c);
    CHECK_EQ(wf_sleep(&word, 0, d), ETIMEDOUT);
    uint32_t seen = 0;
    CHECK_EQ(wf_sleep_flagged(&word, &seen, 4, d), ETIMEDOUT);
    const _Atomic uint32_t *ws[2] = {&word, &word};
    uint32_t ex[2] = {4, 4};
    CHECK_EQ(wf_sleep_any(ws, ex, 2, d), ETIMEDOUT);
    atomic_store(&word, 0);
}

/* Fires `fire` (root, middle or leaf of a chain) while a thread sleeps under `leaf`. */
static void fired_during_wakes_the_sleeper(int which)
{
    reset();
    weft_cancel root = WEFT_CANCEL_INIT, mid, leaf;
    CHECK_EQ(weft_cancel_init_child(&mid, &root), 0);
    CHECK_EQ(weft_cancel_init_child(&leaf, &mid), 0);
    weft_cancel *fire = which == 0 ? &root : which == 1 ? &mid : &leaf;
    struct sleeper s = {.d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &leaf),
                        .expected = 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, sleeper_fn, &s), 0);
    EVENTUALLY(atomic_load(&asleep) == 1);
    usleep(20000); /* most likely asleep in the kernel by now; correct either way */
    CHECK_EQ(atomic_load(&woke), 0);
    CHECK_EQ(weft_cancel_fire(fire), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(s.result, ECANCELED);
    CHECK_EQ(atomic_load(&word), 0); /* the word was never touched */
}

static void fired_during_root(void)
{
    fired_during_wakes_the_sleeper(0);
}

static void fired_during_middle(void)
{
    fired_during_wakes_the_sleeper(1);
}

static void fired_during_leaf(void)
{
    fired_during_wakes_the_sleeper(2);
}

static void fired_after_changes_nothing(void)
{
    reset();
    weft_cancel c = WEFT_CANCEL_INIT;
    struct sleeper s = {.d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c), .expected = 0};
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, sleeper_fn, &s), 0);
    EVENTUALLY(atomic_load(&asleep) == 1);
    usleep(10000);
    /* Lost wakeup avoided: the word changes before the wake. */
    atomic_store(&word, 1);
    wf_wake(&word, INT_MAX);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(s.result, 0); /* woken by its word */
    CHECK_EQ(weft_cancel_fire(&c), 0); /* too late to matter */
    CHECK_EQ(s.result, 0);
}

static void token_and_timeout_together(void)
{
    reset();
    weft_cancel c = WEFT_CANCEL_INIT;
    /* The deadline passes first: ETIMEDOUT, never early, and it stays ETIMEDOUT. */
    int64_t t0 = weft_now_ns();
    weft_deadline d = weft_deadline_with_cancel(weft_deadline_in(WEFT_MS(10)), &c);
    int r;
    while ((r = wf_sleep(&word, 0, d)) == 0)
        ;
    CHECK_EQ(r, ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(10));
    CHECK_EQ(wf_cancel_result(r, d), ETIMEDOUT);
    /* A token-free sleep is unchanged: it times out as before. */
    d = weft_deadline_in(WEFT_MS(2));
    while ((r = wf_sleep(&word, 0, d)) == 0)
        ;
    CHECK_EQ(r, ETIMEDOUT);
}

/* Many sleepers on one token (some on children): one fire wakes them all. */
static void one_fire_wakes_all(void)
{
    enum { N = 6 };
    reset();
    weft_cancel root = WEFT_CANCEL_INIT, kids[N];
    struct sleeper s[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_cancel_init_child(&kids[i], &root), 0);
        s[i] = (struct sleeper){
            .d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, i % 2 ? &kids[i] : &root),
            .expected = 0};
        CHECK_EQ(pthread_create(&th[i], NULL, sleeper_fn, &s[i]), 0);
    }
    EVENTUALLY(atomic_load(&asleep) == N);
    usleep(10000);
    CHECK_EQ(weft_cancel_fire(&root), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(pthread_join(th[i], NULL), 0);
        CHECK_EQ(s[i].result, ECANCELED);
    }
}

/* A waiter of a wait list (the queues' sleep) is cancelled too. */
static wf_waitlist list;

static void *list_sleeper(void *arg)
{
    weft_deadline *d = arg;
    wf_waiter w;
    wf_waitlist_prepare(&list, &w);
    atomic_fetch_add(&asleep, 1);
    bool woken = wf_waiter_sleep(&w, *d);
    if (!woken)
        woken = wf_waitlist_cancel(&list, &w);
    atomic_store(&woke, woken ? 1 : 2);
    return NULL;
}

static void waitlist_sleep_is_cancellable(void)
{
    reset();
    weft_cancel c = WEFT_CANCEL_INIT;
    weft_deadline d = weft_deadline_with_cancel(WEFT_DEADLINE_NEVER, &c);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, list_sleeper, &d), 0);
    EVENTUALLY(atomic_load(&asleep) == 1);
    usleep(10000);
    CHECK_EQ(weft_cancel_fire(&c), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(atomic_load(&woke), 2);          /* left by the token, not a notify */
    CHECK(!wf_waitlist_has_waiters(&list));   /* and unlisted */
}

/* ---- the wait layer: wf_wait_any ------------------------------------------------- */

static _Atomic uint32_t words3[3];

struct any_sleeper {
    weft_deadline d;
    int result;
};

static void *any_sleeper_fn(void *arg)
{
    struct any_sleeper *s = arg;
    const _Atomic uint32_t *ws[3] = {&words3[0], &words3[1], &words3[2]};
    uint32_t ex[3] = {0, 0, 0};
    atomic_fetch_add(&asleep, 1);
    s->result = wf_wait_any(ws, ex, 3, s->d);
    atomic_fetch_add(&woke, 1);
    return NULL;
}

static void wait_any_basics(void)
{
    reset();
    for (int i = 0; i < 3; i++)
        atomic_store(&words3[i], 0);
    const _Atomic uint32_t *ws[3] = {&words3[0], &words3[1], &words3[2]};
    uint32_t ex[3] = {0, 0, 7};
    CHECK_EQ(wf_wait_any(ws, ex, 3, WEFT_DEADLINE_NEVER), 0); /* a word differs: at once */
    CHECK_EQ(wf_wait_any(ws, ex, 0, WEFT_DEADLINE_NEVER), EINVAL);
    CHECK_EQ(wf_wait_any(ws, ex, WF_WAIT_ANY_MAX + 1, WEFT_DEADLINE_NEVER), EINVAL);
    ex[2] = 0;
    CHECK_EQ(wf_wait_any(ws, ex, 3, weft_deadline_in(0)), ETIMEDOUT);
    int64_t t0 = weft_now_ns();
    weft_deadline d = weft_deadline_in(WEFT_MS(10));
    int r;
    while ((r = wf_wait_any(ws, ex, 3, d)) == 0)
        ;
    CHECK_EQ(r, ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(10)); /* never early */

    /* A wake on any one word wakes the sleeper, and counts it once. */
    for (int which = 0; which < 3; which++) {
        reset();
        struct any_sleeper s = {.d = WEFT_DEADLINE_NEVER};
        pthread_t th;
        CHECK_EQ(pthread_create(&th, NULL, any_sleeper_fn, &s), 0);
        EVENTUALLY(atomic_load(&asleep) == 1);
        int woken = 0;
        while ((woken = wf_wake(&words3[which], INT_MAX)) == 0)
            usleep(1000); /* not in its sleep yet */
        CHECK_EQ(woken, 1);
        CHECK_EQ(pthread_join(th, NULL), 0);
        CHECK_EQ(s.result, 0);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(wf_wake(&words3[i], INT_MAX), 0); /* nobody left on any word */
    }
}

/* wake(1) on a word two sleepers share wakes exactly one; the other sleeps on. */
static void wait_any_wake_counts(void)
{
    reset();
    for (int i = 0; i < 3; i++)
        atomic_store(&words3[i], 0);
    struct any_sleeper s[2] = {{.d = WEFT_DEADLINE_NEVER}, {.d = WEFT_DEADLINE_NEVER}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, any_sleeper_fn, &s[i]), 0);
    EVENTUALLY(atomic_load(&asleep) == 2);
    int woken = 0;
    while (woken < 1) {
        woken += wf_wake(&words3[1], 1);
        if (!woken)
            usleep(1000);
    }
    CHECK_EQ(woken, 1);
    EVENTUALLY(atomic_load(&woke) == 1);
    usleep(20000);
    CHECK_EQ(atomic_load(&woke), 1);
    while (wf_wake(&words3[2], 1) == 0)
        usleep(1000);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
}

int main(int argc, char **argv)
{
    if (getenv("WF_TEST_FALLBACK"))
        wf_wait_any_force_fallback();
    static const wf_test_case cases[] = {
        TEST(fire_is_idempotent_and_sticky),
        TEST(bad_input),
        TEST(child_fires_with_its_ancestors),
        TEST(depth_is_bounded),
        TEST(deadline_carries_the_token),
        TEST(fired_before_returns_at_once),
        TEST(fired_during_root),
        TEST(fired_during_middle),
        TEST(fired_during_leaf),
        TEST(fired_after_changes_nothing),
        TEST(token_and_timeout_together),
        TEST(one_fire_wakes_all),
        TEST(waitlist_sleep_is_cancellable),
        TEST(wait_any_basics),
        TEST(wait_any_wake_counts),
    };
    return wf_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
