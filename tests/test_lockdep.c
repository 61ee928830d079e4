/* The lock-order checker of a checking build (-Dchecks=true): planted inversions
 * run one thread at a time (so they never deadlock) must be reported, with the
 * sites of both orders; a correct program must produce no report at all. Each
 * test captures stderr, where reports go, and reads it back. Built with
 * -rdynamic so that backtrace_symbols names this file's functions. */
#include "check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#ifndef WEFT_CHECKS
#error "test_lockdep needs a checking build (meson -Dchecks=true)"
#endif

static int saved_stderr = -1;
static FILE *capture;

static void capture_begin(void)
{
    fflush(stderr);
    capture = tmpfile();
    CHECK(capture != NULL);
    saved_stderr = dup(2);
    CHECK(saved_stderr >= 0);
    CHECK(dup2(fileno(capture), 2) == 2);
}

/* Returns what was written to stderr since capture_begin (malloc'd), and echoes
 * it to the real stderr for the test log. */
static char *capture_end(void)
{
    fflush(stderr);
    CHECK(dup2(saved_stderr, 2) == 2);
    close(saved_stderr);
    char *text = wf_test_read_back(capture);
    fclose(capture);
    fputs(text, stderr);
    return text;
}

static int count_of(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

/* ---- A-B then B-A ----------------------------------------------------------------- */

static weft_lock lock_a = WEFT_LOCK_INIT, lock_b = WEFT_LOCK_INIT;

__attribute__((noinline)) void take_a_then_b(void)
{
    CHECK_EQ(weft_lock_acquire(&lock_a), 0);
    CHECK_EQ(weft_lock_acquire(&lock_b), 0);
    CHECK_EQ(weft_lock_release(&lock_b), 0);
    CHECK_EQ(weft_lock_release(&lock_a), 0);
}

__attribute__((noinline)) void take_b_then_a(void)
{
    CHECK_EQ(weft_lock_acquire(&lock_b), 0);
    CHECK_EQ(weft_lock_acquire(&lock_a), 0);
    CHECK_EQ(weft_lock_release(&lock_a), 0);
    CHECK_EQ(weft_lock_release(&lock_b), 0);
}

static void *run_b_then_a(void *arg)
{
    (void)arg;
    take_b_then_a();
    return NULL;
}

static void test_inversion_reported_with_both_sites(void)
{
    CHECK_EQ(weft_name_set(&lock_a, "lock A"), 0);
    CHECK_EQ(weft_name_set(&lock_b, "lock B"), 0);
    capture_begin();
    take_a_then_b();
    /* The other order in another thread, after the first is done: no deadlock. */
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, run_b_then_a, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* Reported once: the same inversion again adds nothing. */
    take_b_then_a();
    take_a_then_b();
    char *text = capture_end();
    CHECK_EQ(count_of(text, "lock-order inversion"), 1);
    CHECK(strstr(text, "acquiring \"lock A\"") != NULL);
    CHECK(strstr(text, "while holding \"lock B\"") != NULL);
    CHECK(strstr(text, "take_b_then_a") != NULL); /* the closing edge's stack */
    CHECK(strstr(text, "take_a_then_b") != NULL); /* the earlier edge's stack */
    free(text);
}

/* ---- a cycle through ten locks -------------------------------------------------- */

enum { CHAIN = 10 };
static weft_lock chain[CHAIN];

__attribute__((noinline)) void take_pair(int first, int second)
{
    CHECK_EQ(weft_lock_acquire(&chain[first]), 0);
    CHECK_EQ(weft_lock_acquire(&chain[second]), 0);
    CHECK_EQ(weft_lock_release(&chain[second]), 0);
    CHECK_EQ(weft_lock_release(&chain[first]), 0);
}

static void test_chain_of_ten_closing_a_cycle(void)
{
    char name[32];
    for (int i = 0; i < CHAIN; i++) {
        snprintf(name, sizeof name, "chain %d", i);
        CHECK_EQ(weft_name_set(&chain[i], name), 0);
    }
    capture_begin();
    for (int i = 0; i + 1 < CHAIN; i++)
        take_pair(i, i + 1);
    char *quiet = capture_end();
    CHECK_EQ(strlen(quiet), 0); /* a chain is no cycle */
    free(quiet);
    capture_begin();
    take_pair(CHAIN - 1, 0);
    char *text = capture_end();
    CHECK_EQ(count_of(text, "lock-order inversion"), 1);
    CHECK(strstr(text, "acquiring \"chain 0\"") != NULL);
    /* The closing edge and the nine edges of the path chain 0 -> ... -> chain 9. */
    CHECK_EQ(count_of(text, "while holding"), CHAIN);
    for (int i = 0; i < CHAIN; i++) {
        snprintf(name, sizeof name, "\"chain %d\"", i);
        CHECK(strstr(text, name) != NULL);
    }
    free(text);
}

/* ---- a correct program with 1000 locks ------------------------------------------- */

enum { MANY = 1000, NESTED = 6, THREADS = 3 };
static weft_lock many[MANY];
static weft_rlock many_r[MANY / 10];
static weft_cond many_cond = WEFT_COND_INIT;

static void *consistent_order(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    long rounds = wf_test_scale(3000);
    for (long round = 0; round < rounds; round++) {
        /* A random increasing set of locks, taken in ascending order (an rlock
         * ranks with lock 10 i), some re-entered, one condition wait. */
        int held[NESTED], n = 0;
        int at = (int)(rand_r(&seed) % (MANY / 2));
        while (n < NESTED && at < MANY) {
            held[n++] = at;
            if (at % 10 == 0) {
                CHECK_EQ(weft_rlock_acquire(&many_r[at / 10]), 0);
                CHECK_EQ(weft_rlock_acquire(&many_r[at / 10]), 0);
                CHECK_EQ(weft_rlock_release(&many_r[at / 10]), 0);
            } else {
                CHECK_EQ(weft_lock_acquire(&many[at]), 0);
            }
            at += 1 + (int)(rand_r(&seed) % 50);
        }
        int last = held[n - 1];
        if (last % 10 != 0 && round % 64 == 0)
            CHECK_EQ(weft_cond_wait(&many_cond, &many[last], 1000), ETIMEDOUT);
        /* Released in any order: order matters only for acquiring. */
        for (int k = 0; k < n; k++) {
            int i = held[(k + (int)round) % n];
            if (i % 10 == 0)
                CHECK_EQ(weft_rlock_release(&many_r[i / 10]), 0);
            else
                CHECK_EQ(weft_lock_release(&many[i]), 0);
        }
    }
    return NULL;
}

static void test_consistent_order_reports_nothing(void)
{
    capture_begin();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, consistent_order, (void *)(uintptr_t)(i + 1)), 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    char *text = capture_end();
    CHECK_EQ(strlen(text), 0);
    free(text);
}

/* ---- the other reports ------------------------------------------------------------ */

__attribute__((noinline)) void take_twice(weft_lock *l)
{
    CHECK_EQ(weft_lock_acquire(l), 0);
    CHECK_EQ(weft_lock_acquire_for(l, WEFT_MS(1)), ETIMEDOUT);
    CHECK_EQ(weft_lock_release(l), 0);
}

static void test_self_deadlock_reported_before_blocking(void)
{
    weft_lock l = WEFT_LOCK_INIT;
    weft_name_set(&l, "held twice");
    capture_begin();
    take_twice(&l);
    char *text = capture_end();
    CHECK(strstr(text, "self-deadlock: re-acquiring \"held twice\"") != NULL);
    CHECK(strstr(text, "take_twice") != NULL);
    free(text);
    weft_name_set(&l, NULL);
}

static weft_rlock owned = WEFT_RLOCK_INIT;

static void *release_not_ours(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rlock_release(&owned), EPERM);
    return NULL;
}

static void test_release_by_non_holder_reported(void)
{
    weft_name_set(&owned, "owned rlock");
    capture_begin();
    CHECK_EQ(weft_rlock_acquire(&owned), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, release_not_ours, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(weft_rlock_release(&owned), 0);
    char *text = capture_end();
    CHECK(strstr(text, "releasing rlock \"owned rlock\" (") != NULL);
    CHECK(strstr(text, "which this thread does not hold") != NULL);
    free(text);
}

static weft_lock left_held = WEFT_LOCK_INIT;

static void *exit_holding(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_lock_acquire(&left_held), 0);
    return NULL;
}

static void test_exit_holding_reported(void)
{
    weft_name_set(&left_held, "left held");
    capture_begin();
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, exit_holding, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    char *text = capture_end();
    CHECK(strstr(text, "a thread exits holding \"left held\"") != NULL);
    free(text);
    CHECK_EQ(weft_lock_release(&left_held), 0);
}

/* ---- rwlocks ---------------------------------------------------------------------- */

static void *release_read_not_ours(void *arg)
{
    CHECK_EQ(weft_rwlock_read_release(arg), 0);
    return NULL;
}

static weft_rwlock rw_a = WEFT_RWLOCK_INIT, rw_b = WEFT_RWLOCK_INIT;

__attribute__((noinline)) void rw_write_a_then_read_b(void)
{
    CHECK_EQ(weft_rwlock_write_acquire(&rw_a), 0);
    CHECK_EQ(weft_rwlock_read_acquire(&rw_b), 0);
    CHECK_EQ(weft_rwlock_read_release(&rw_b), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw_a), 0);
}

__attribute__((noinline)) void rw_write_b_then_write_a(void)
{
    CHECK_EQ(weft_rwlock_write_acquire(&rw_b), 0);
    CHECK_EQ(weft_rwlock_write_acquire_until(&rw_a, WEFT_DEADLINE_NEVER), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw_a), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw_b), 0);
}

static void *run_rw_b_then_a(void *arg)
{
    (void)arg;
    rw_write_b_then_write_a();
    return NULL;
}

/* A-B in one thread (write A, read B), B-A in another after it (write B, write A):
 * one report, with both sites. */
static void test_rwlock_inversion_reported_with_both_sites(void)
{
    CHECK_EQ(weft_name_set(&rw_a, "rwlock A"), 0);
    CHECK_EQ(weft_name_set(&rw_b, "rwlock B"), 0);
    capture_begin();
    rw_write_a_then_read_b();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, run_rw_b_then_a, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    rw_write_b_then_write_a();
    rw_write_a_then_read_b();
    char *text = capture_end();
    CHECK_EQ(count_of(text, "lock-order inversion"), 1);
    CHECK(strstr(text, "acquiring \"rwlock A\"") != NULL);
    CHECK(strstr(text, "while holding \"rwlock B\"") != NULL);
    CHECK(strstr(text, "rw_write_b_then_write_a") != NULL); /* the closing edge's stack */
    CHECK(strstr(text, "rw_write_a_then_read_b") != NULL);  /* the earlier edge's stack */
    free(text);
}

static weft_rwlock rd_c = WEFT_RWLOCK_INIT, rd_d = WEFT_RWLOCK_INIT;

__attribute__((noinline)) void read_c_then_d(void)
{
    CHECK_EQ(weft_rwlock_read_acquire(&rd_c), 0);
    CHECK_EQ(weft_rwlock_read_acquire_for(&rd_d, WEFT_SEC(10)), 0);
    CHECK_EQ(weft_rwlock_read_release(&rd_d), 0);
    CHECK_EQ(weft_rwlock_read_release(&rd_c), 0);
}

__attribute__((noinline)) void read_d_then_c(void)
{
    CHECK_EQ(weft_rwlock_read_acquire(&rd_d), 0);
    CHECK_EQ(weft_rwlock_read_acquire_until(&rd_c, weft_deadline_in(WEFT_SEC(10))), 0);
    CHECK_EQ(weft_rwlock_read_release(&rd_c), 0);
    CHECK_EQ(weft_rwlock_read_release(&rd_d), 0);
}

/* Readers only: still an inversion (a waiting writer stops new readers, so two
 * readers in opposite orders deadlock once writers wait on both locks). */
static void test_read_read_inversion_reported(void)
{
    CHECK_EQ(weft_name_set(&rd_c, "read C"), 0);
    CHECK_EQ(weft_name_set(&rd_d, "read D"), 0);
    capture_begin();
    read_c_then_d();
    read_d_then_c();
    char *text = capture_end();
    CHECK_EQ(count_of(text, "lock-order inversion"), 1);
    CHECK(strstr(text, "acquiring \"read C\" (") != NULL);
    CHECK(strstr(text, "while holding \"read D\"") != NULL);
    CHECK(strstr(text, "read_d_then_c") != NULL);
    CHECK(strstr(text, "read_c_then_d") != NULL);
    free(text);
}

/* A cycle through weft_locks and both sides of rwlocks. */
enum { MIXED = 8 };
static weft_lock mixed_l[MIXED / 2];
static weft_rwlock mixed_rw[MIXED / 2];

/* Element i: even ones are locks, odd ones rwlocks (taken for reading when i % 4
 * is 1, for writing when it is 3). */
static void mixed_take(int i)
{
    if (i % 2 == 0)
        CHECK_EQ(weft_lock_acquire(&mixed_l[i / 2]), 0);
    else if (i % 4 == 1)
        CHECK_EQ(weft_rwlock_read_acquire(&mixed_rw[i / 2]), 0);
    else
        CHECK_EQ(weft_rwlock_write_acquire(&mixed_rw[i / 2]), 0);
}

static void mixed_give(int i)
{
    if (i % 2 == 0)
        CHECK_EQ(weft_lock_release(&mixed_l[i / 2]), 0);
    else if (i % 4 == 1)
        CHECK_EQ(weft_rwlock_read_release(&mixed_rw[i / 2]), 0);
    else
        CHECK_EQ(weft_rwlock_write_release(&mixed_rw[i / 2]), 0);
}

static const void *mixed_obj(int i)
{
    return i % 2 == 0 ? (const void *)&mixed_l[i / 2] : (const void *)&mixed_rw[i / 2];
}

__attribute__((noinline)) void take_mixed_pair(int first, int second)
{
    mixed_take(first);
    mixed_take(second);
    mixed_give(second);
    mixed_give(first);
}

static void test_mixed_chain_closing_a_cycle(void)
{
    char name[32];
    for (int i = 0; i < MIXED; i++) {
        snprintf(name, sizeof name, "mixed %d", i);
        CHECK_EQ(weft_name_set(mixed_obj(i), name), 0);
    }
    capture_begin();
    for (int i = 0; i + 1 < MIXED; i++)
        take_mixed_pair(i, i + 1);
    char *quiet = capture_end();
    CHECK_EQ(strlen(quiet), 0); /* a chain is no cycle */
    free(quiet);
    capture_begin();
    take_mixed_pair(MIXED - 1, 0); /* write rwlock 7, then lock 0 */
    char *text = capture_end();
    CHECK_EQ(count_of(text, "lock-order inversion"), 1);
    CHECK(strstr(text, "acquiring \"mixed 0\"") != NULL);
    CHECK(strstr(text, "while holding \"mixed 7\"") != NULL);
    CHECK_EQ(count_of(text, "while holding"), MIXED);
    for (int i = 0; i < MIXED; i++) {
        snprintf(name, sizeof name, "\"mixed %d\"", i);
        CHECK(strstr(text, name) != NULL);
    }
    free(text);
}

/* Rwlocks and locks in one consistent order, from several threads at once, with
 * downgrades, upgrades, tries and timed acquires: nothing to report. */
enum { RW_MANY = 60 };
static weft_rwlock rw_many[RW_MANY];
static weft_lock rw_many_l[RW_MANY];

static void *rw_consistent_order(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    long rounds = wf_test_scale(3000);
    for (long round = 0; round < rounds; round++) {
        int held[NESTED], kind[NESTED], n = 0;
        int at = (int)(rand_r(&seed) % (RW_MANY / 2));
        while (n < NESTED && at < RW_MANY) {
            int k = (int)(rand_r(&seed) % 4);
            /* 0: lock; 1: read; 2: write; 3: write, downgraded, or read, upgraded */
            if (k == 0) {
                CHECK_EQ(weft_lock_acquire(&rw_many_l[at]), 0);
            } else if (k == 1) {
                CHECK_EQ(weft_rwlock_read_acquire_for(&rw_many[at], WEFT_SEC(30)), 0);
            } else if (k == 2) {
                CHECK_EQ(weft_rwlock_write_acquire(&rw_many[at]), 0);
            } else if (round % 2) {
                CHECK_EQ(weft_rwlock_write_acquire_until(&rw_many[at], WEFT_DEADLINE_NEVER), 0);
                CHECK_EQ(weft_rwlock_downgrade(&rw_many[at]), 0);
                k = 1;
            } else {
                CHECK_EQ(weft_rwlock_read_acquire(&rw_many[at]), 0);
                k = weft_rwlock_try_upgrade(&rw_many[at]) ? 2 : 1;
            }
            held[n] = at;
            kind[n++] = k;
            at += 1 + (int)(rand_r(&seed) % 10);
        }
        for (int j = 0; j < n; j++) {
            int i = (j + (int)round) % n;
            if (kind[i] == 0)
                CHECK_EQ(weft_lock_release(&rw_many_l[held[i]]), 0);
            else if (kind[i] == 1)
                CHECK_EQ(weft_rwlock_read_release(&rw_many[held[i]]), 0);
            else
                CHECK_EQ(weft_rwlock_write_release(&rw_many[held[i]]), 0);
        }
        if (round % 16 == 0 && weft_rwlock_write_try_acquire(&rw_many[0]))
            CHECK_EQ(weft_rwlock_write_release(&rw_many[0]), 0);
    }
    return NULL;
}

static void test_rwlock_consistent_order_reports_nothing(void)
{
    capture_begin();
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, rw_consistent_order, (void *)(uintptr_t)(i + 7)), 0);
    for (int i = 0; i < THREADS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    char *text = capture_end();
    CHECK_EQ(strlen(text), 0);
    free(text);
}

__attribute__((noinline)) void rw_write_twice(weft_rwlock *rw)
{
    CHECK_EQ(weft_rwlock_write_acquire(rw), 0);
    CHECK_EQ(weft_rwlock_write_acquire_for(rw, WEFT_MS(1)), ETIMEDOUT);
    CHECK_EQ(weft_rwlock_write_release(rw), 0);
}

__attribute__((noinline)) void rw_read_then_write(weft_rwlock *rw)
{
    CHECK_EQ(weft_rwlock_read_acquire(rw), 0);
    CHECK_EQ(weft_rwlock_write_acquire_until(rw, weft_deadline_in(WEFT_MS(1))), ETIMEDOUT);
    CHECK_EQ(weft_rwlock_read_release(rw), 0);
}

/* Re-acquired by its holder: write after write, write after read. */
static void test_rwlock_self_deadlock_reported(void)
{
    weft_rwlock w = WEFT_RWLOCK_INIT, r = WEFT_RWLOCK_INIT;
    weft_name_set(&w, "written twice");
    weft_name_set(&r, "read then written");
    capture_begin();
    rw_write_twice(&w);
    rw_read_then_write(&r);
    char *text = capture_end();
    CHECK(strstr(text, "self-deadlock: re-acquiring \"written twice\"") != NULL);
    CHECK(strstr(text, "rw_write_twice") != NULL);
    CHECK(strstr(text, "self-deadlock: re-acquiring \"read then written\"") != NULL);
    CHECK(strstr(text, "rw_read_then_write") != NULL);
    free(text);
    weft_name_set(&w, NULL);
    weft_name_set(&r, NULL);
}

static weft_rwlock rw_owned = WEFT_RWLOCK_INIT, rw_free = WEFT_RWLOCK_INIT;

static void *release_write_not_ours(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_write_release(&rw_owned), 0); /* allowed, and reported */
    return NULL;
}

static void test_rwlock_write_release_by_non_holder_reported(void)
{
    weft_name_set(&rw_owned, "taken here");
    weft_name_set(&rw_free, "never taken");
    capture_begin();
    /* read holds are nobody's: released by another thread, nothing to report */
    CHECK_EQ(weft_rwlock_read_acquire(&rw_owned), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, release_read_not_ours, &rw_owned), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    char *quiet = capture_end();
    CHECK_EQ(strlen(quiet), 0);
    free(quiet);
    capture_begin();
    CHECK_EQ(weft_rwlock_write_acquire(&rw_owned), 0);
    CHECK_EQ(pthread_create(&th, NULL, release_write_not_ours, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw_free), EPERM);
    CHECK_EQ(weft_rwlock_downgrade(&rw_free), EPERM); /* the same lock: reported once */
    char *text = capture_end();
    CHECK(strstr(text, "releasing the write hold of rwlock \"taken here\" (") != NULL);
    CHECK(strstr(text, "which this thread does not hold") != NULL);
    CHECK(strstr(text, "releasing the write hold of rwlock \"never taken\" (") != NULL);
    CHECK(strstr(text, "which no thread holds") != NULL);
    CHECK_EQ(count_of(text, "weft checks:"), 2);
    free(text);
    /* our stale write entry is dropped: taking the lock again reports nothing */
    capture_begin();
    CHECK_EQ(weft_rwlock_write_acquire(&rw_owned), 0);
    CHECK_EQ(weft_rwlock_write_release(&rw_owned), 0);
    char *after = capture_end();
    CHECK_EQ(strlen(after), 0);
    free(after);
}

static weft_rwlock rw_left = WEFT_RWLOCK_INIT;

static void *exit_reading(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_rwlock_read_acquire(&rw_left), 0);
    return NULL;
}

static void test_rwlock_exit_holding_reported(void)
{
    weft_name_set(&rw_left, "read and left");
    capture_begin();
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, exit_reading, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    char *text = capture_end();
    CHECK(strstr(text, "a thread exits holding \"read and left\"") != NULL);
    free(text);
    CHECK_EQ(weft_rwlock_read_release(&rw_left), 0);
}

static void test_abort_switch(void)
{
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Silence the child's report; its death by SIGABRT is what we check. */
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        setenv("WEFT_CHECKS_ABORT", "1", 1);
        weft_lock x = WEFT_LOCK_INIT, y = WEFT_LOCK_INIT;
        weft_lock_acquire(&x);
        weft_lock_acquire(&y);
        weft_lock_release(&y);
        weft_lock_release(&x);
        weft_lock_acquire(&y);
        weft_lock_acquire(&x);
        _exit(0);
    }
    int status;
    CHECK_EQ(waitpid(pid, &status, 0), pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

TEST_MAIN(TEST(test_inversion_reported_with_both_sites), TEST(test_chain_of_ten_closing_a_cycle),
          TEST(test_consistent_order_reports_nothing),
          TEST(test_self_deadlock_reported_before_blocking),
          TEST(test_release_by_non_holder_reported), TEST(test_exit_holding_reported),
          TEST(test_rwlock_inversion_reported_with_both_sites),
          TEST(test_read_read_inversion_reported), TEST(test_mixed_chain_closing_a_cycle),
          TEST(test_rwlock_consistent_order_reports_nothing),
          TEST(test_rwlock_self_deadlock_reported),
          TEST(test_rwlock_write_release_by_non_holder_reported),
          TEST(test_rwlock_exit_holding_reported), TEST(test_abort_switch))
