/* Bounded stress of weft_thread: 10^4 short threads started and joined 8 at a
 * time (every join flavour, names, daemons, detached ones), with active_count
 * exact after every wave; and enumerate while threads come and go, which must
 * never list a thread already joined, never list one twice, and always list the
 * threads known to be alive throughout; and join_all, after which every thread
 * it waited for reports not alive, every round. */
#include "../check.h"

#include <sched.h>

static _Atomic long ran;

static void *short_fn(void *arg)
{
    atomic_fetch_add_explicit(&ran, 1, memory_order_relaxed);
    return (char *)arg + 1;
}

static void start_join_waves(void)
{
    enum { WAVE = 8 };
    long waves = wf_test_scale(10000) / WAVE;
    if (waves < 1)
        waves = 1;
    size_t base = weft_thread_active_count();
    uint64_t last_ident = 0;
    atomic_store(&ran, 0);
    static char args[WAVE];
    for (long w = 0; w < waves; w++) {
        weft_thread th[WAVE];
        for (int i = 0; i < WAVE; i++) {
            weft_thread_opts opts = WEFT_THREAD_OPTS_INIT;
            if (i % 3 == 0)
                opts.name = "waver";
            opts.daemon = i % 4 == 3;
            CHECK_EQ(weft_thread_start(&th[i], short_fn, &args[i], &opts), 0);
            uint64_t id = weft_thread_ident(th[i]);
            CHECK(id > last_ident); /* unique, never reused */
            last_ident = id;
        }
        bool detach = w % 5 == 0;
        for (int i = 0; i < WAVE; i++) {
            void *res = NULL;
            if (detach && i == 6) {
                CHECK_EQ(weft_thread_release(th[i]), 0);
                continue;
            }
            switch ((w + i) % 3) {
            case 0:
                CHECK_EQ(weft_thread_join(th[i], WEFT_FOREVER, &res), 0);
                break;
            case 1: {
                int r;
                while ((r = weft_thread_join(th[i], WEFT_US(50), &res)) == ETIMEDOUT)
                    ;
                CHECK_EQ(r, 0);
                break;
            }
            default:
                CHECK_EQ(weft_thread_join(th[i], WEFT_SEC(60), &res), 0);
                break;
            }
            CHECK(res == &args[i] + 1);
            CHECK(!weft_thread_is_alive(th[i]));
            CHECK_EQ(weft_thread_release(th[i]), 0);
        }
        if (detach)
            CHECK_EQ(weft_thread_join_all(WEFT_FOREVER), 0);
        CHECK_EQ(weft_thread_active_count(), base); /* quiescent: exact */
    }
    CHECK_EQ(atomic_load(&ran), waves * WAVE);
}

/* ---- enumerate while threads come and go ---- */

enum { CHURNERS = 3, PER_ROUND = 4, MAX_IDENT = 1 << 16 };
static _Atomic uint64_t epoch;
static _Atomic uint64_t dead_at[MAX_IDENT]; /* ident -> epoch its join completed in */
static _Atomic bool churner_done[CHURNERS];
static long churn_rounds;

static void *churner(void *arg)
{
    int me = (int)(intptr_t)arg;
    for (long r = 0; r < churn_rounds; r++) {
        weft_thread th[PER_ROUND];
        for (int i = 0; i < PER_ROUND; i++)
            CHECK_EQ(weft_thread_start(&th[i], short_fn, NULL, NULL), 0);
        for (int i = 0; i < PER_ROUND; i++) {
            CHECK_EQ(weft_thread_join(th[i], i % 2 ? WEFT_FOREVER : WEFT_SEC(60), NULL), 0);
            uint64_t id = weft_thread_ident(th[i]);
            /* acq_rel: the join happens before any reader that sees this epoch. */
            uint64_t e = atomic_fetch_add_explicit(&epoch, 1, memory_order_acq_rel) + 1;
            if (id < MAX_IDENT)
                atomic_store_explicit(&dead_at[id], e, memory_order_release);
            CHECK_EQ(weft_thread_release(th[i]), 0);
        }
    }
    atomic_store(&churner_done[me], true);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void enumerate_while_churning(void)
{
    enum { CAP = 256 };
    churn_rounds = wf_test_scale(600);
    size_t base = weft_thread_active_count();
    weft_thread ch[CHURNERS];
    for (int i = 0; i < CHURNERS; i++) {
        atomic_store(&churner_done[i], false);
        CHECK_EQ(weft_thread_start(&ch[i], churner, (void *)(intptr_t)i, NULL), 0);
    }
    long snapshots = 0;
    for (;;) {
        bool all_done = true;
        for (int i = 0; i < CHURNERS; i++)
            all_done &= atomic_load(&churner_done[i]);
        if (all_done)
            break;
        uint64_t e0 = atomic_load_explicit(&epoch, memory_order_acquire);
        weft_thread buf[CAP];
        size_t n = weft_thread_enumerate(buf, CAP);
        CHECK(n < CAP);
        uint64_t ids[CAP];
        bool seen_main = false, seen_churner[CHURNERS] = {false};
        for (size_t i = 0; i < n; i++) {
            ids[i] = weft_thread_ident(buf[i]);
            if (ids[i] < MAX_IDENT) {
                uint64_t d = atomic_load_explicit(&dead_at[ids[i]], memory_order_acquire);
                CHECK(d == 0 || d > e0); /* not joined before enumerate began */
            }
            seen_main |= buf[i] == weft_thread_main();
            for (int c = 0; c < CHURNERS; c++)
                seen_churner[c] |= buf[i] == ch[c];
        }
        qsort(ids, n, sizeof ids[0], cmp_u64);
        for (size_t i = 1; i < n; i++)
            CHECK(ids[i] != ids[i - 1]); /* no thread twice */
        CHECK(seen_main);
        for (int c = 0; c < CHURNERS; c++)
            CHECK(seen_churner[c] || atomic_load(&churner_done[c])); /* alive throughout */
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(weft_thread_release(buf[i]), 0);
        snapshots++;
        sched_yield();
    }
    for (int i = 0; i < CHURNERS; i++) {
        CHECK_EQ(weft_thread_join(ch[i], WEFT_FOREVER, NULL), 0);
        CHECK_EQ(weft_thread_release(ch[i]), 0);
    }
    CHECK_EQ(weft_thread_active_count(), base);
    CHECK_EQ(atomic_load(&epoch), (uint64_t)CHURNERS * churn_rounds * PER_ROUND);
    printf("  %ld enumerate snapshots\n", snapshots);
}

/* ---- join_all against is_alive ----
 * A thread used to leave the registry before it became FINISHED: a join_all whose
 * scan fell between the two returned 0 with that thread still alive. Several
 * threads end at once, so the scans after each wait contend with their exits for
 * the registry lock (which is what put a scan right after a deregistration). */
static void *noop(void *arg)
{
    return arg;
}

static void join_all_then_not_alive(void)
{
    enum { K = 4 };
    long rounds = wf_test_scale(20000);
    size_t base = weft_thread_active_count();
    for (long r = 0; r < rounds; r++) {
        weft_thread th[K];
        for (int i = 0; i < K; i++)
            CHECK_EQ(weft_thread_start(&th[i], noop, NULL, NULL), 0);
        CHECK_EQ(weft_thread_join_all(WEFT_FOREVER), 0);
        for (int i = 0; i < K; i++) {
            CHECK(!weft_thread_is_alive(th[i]));
            CHECK_EQ(weft_thread_release(th[i]), 0); /* never joined: detached and reaped */
        }
    }
    CHECK_EQ(weft_thread_active_count(), base);
}

TEST_MAIN(TEST(start_join_waves), TEST(enumerate_while_churning), TEST(join_all_then_not_alive))
