/* weft_once: runs exactly once, later calls see its writes, concurrent callers
 * wait for it to finish, bad input, recursion is EDEADLK (not a hang). */
#include "check.h"

#include <unistd.h>

static int runs;
static int data; /* plain: the once alone orders it (TSan checks) */

static void count_run(void *arg)
{
    runs++;
    data = *(int *)arg;
}

static void layout_and_zero_init(void)
{
    CHECK_EQ(sizeof(weft_once), 4);
    weft_once zero;
    memset(&zero, 0, sizeof zero);
    CHECK(!weft_once_done(&zero));
    weft_once init = WEFT_ONCE_INIT;
    CHECK_EQ(memcmp(&zero, &init, sizeof zero), 0);
}

static void runs_once(void)
{
    weft_once o = WEFT_ONCE_INIT;
    runs = 0;
    int a = 7, b = 8;
    CHECK_EQ(weft_once_call(&o, count_run, &a), 0);
    CHECK(weft_once_done(&o));
    CHECK_EQ(runs, 1);
    CHECK_EQ(data, 7);
    CHECK_EQ(weft_once_call(&o, count_run, &b), 0);
    CHECK_EQ(weft_once_call(&o, count_run, &b), 0);
    CHECK_EQ(runs, 1);
    CHECK_EQ(data, 7);
    CHECK_EQ(atomic_load(&o.state), WEFT_ONCE_DONE);
}

static void bad_input(void)
{
    weft_once o = WEFT_ONCE_INIT;
    int a = 1;
    runs = 0;
    CHECK_EQ(weft_once_call(NULL, count_run, &a), EINVAL);
    CHECK_EQ(weft_once_call(&o, NULL, &a), EINVAL);
    CHECK(!weft_once_done(&o)); /* nothing happened */
    CHECK_EQ(atomic_load(&o.state), 0);
    CHECK(!weft_once_done(NULL));
    CHECK_EQ(weft_once_call(&o, count_run, &a), 0);
    CHECK_EQ(runs, 1);
    CHECK_EQ(weft_once_call(&o, NULL, &a), EINVAL); /* done, but still bad input */
    CHECK_EQ(runs, 1);
}

static weft_once outer_once, inner_once;
static int recursion_result, inner_runs;

static void inner(void *arg)
{
    (void)arg;
    inner_runs++;
}

static void outer(void *arg)
{
    (void)arg;
    recursion_result = weft_once_call(&outer_once, outer, NULL);
    CHECK_EQ(weft_once_call(&inner_once, inner, NULL), 0); /* another flag nests fine */
    CHECK_EQ(weft_once_call(&inner_once, inner, NULL), 0);
}

static void recursion_is_edeadlk(void)
{
    CHECK_EQ(weft_once_call(&outer_once, outer, NULL), 0);
    CHECK_EQ(recursion_result, EDEADLK);
    CHECK_EQ(inner_runs, 1);
    CHECK(weft_once_done(&outer_once));
    CHECK(weft_once_done(&inner_once));
}

static weft_once slow_once;
static _Atomic int slow_runs, slow_finished;
static int slow_data;

static void slow_init(void *arg)
{
    (void)arg;
    atomic_fetch_add(&slow_runs, 1);
    usleep(30000); /* long enough that the other callers have to sleep */
    slow_data = 99;
    atomic_store(&slow_finished, 1);
}

static void *caller(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_once_call(&slow_once, slow_init, NULL), 0);
    CHECK_EQ(atomic_load(&slow_finished), 1); /* returned only after it finished */
    CHECK_EQ(slow_data, 99);
    return NULL;
}

static void concurrent_callers_wait(void)
{
    int unused[8];
    wf_test_run_threads(8, caller, unused, sizeof unused[0]);
    CHECK_EQ(atomic_load(&slow_runs), 1);
    CHECK_EQ(atomic_load(&slow_once.state), WEFT_ONCE_DONE);
}

TEST_MAIN(TEST(layout_and_zero_init), TEST(runs_once), TEST(bad_input),
          TEST(recursion_is_edeadlk), TEST(concurrent_callers_wait))
