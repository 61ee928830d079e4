/* Bounded stress for weft_barrier, with exact invariants:
 *  - 8 parties cycled 10^4 times: in every cycle the indices are exactly
 *    0..7, the action runs exactly once, sees every party's write of that cycle,
 *    and every party sees the action's write after the barrier;
 *  - more threads than parties (generations overlapping: fast threads enter
 *    cycle k+1 while slow ones leave cycle k): every cycle has distinct indices
 *    and the number of actions is exact;
 *  - chaos: short timeouts, aborts and resets racing full cycles; afterwards a
 *    reset leaves a barrier that completes a clean cycle. */
#include "../check.h"

#include <sched.h>
#include <unistd.h>

/* ---- 8 parties, exact per cycle ---------------------------------------------------- */

enum { PARTIES = 8 };
static weft_barrier barrier;
static long cycles;
static long *marks;         /* marks[cycle * PARTIES + index]: written by that party */
static long action_cycle;   /* the action's count, read by everyone after the barrier */
static long action_errors;

static int exact_action(void *arg)
{
    (void)arg;
    long c = action_cycle;
    /* Every party wrote its mark for cycle c before arriving. */
    for (int i = 0; i < PARTIES; i++)
        if (marks[c * PARTIES + i] != c + 1)
            action_errors++;
    action_cycle = c + 1;
    return 0;
}

static void *exact_party(void *arg)
{
    int me = *(int *)arg;
    for (long c = 0; c < cycles; c++) {
        /* A slot per thread per cycle, for the action to check. */
        marks[c * PARTIES + me] = c + 1;
        uint32_t index = PARTIES;
        CHECK_EQ(weft_barrier_wait(&barrier, WEFT_FOREVER, &index), 0);
        CHECK(index < PARTIES);
        CHECK_EQ(action_cycle, c + 1); /* the action of this cycle ran, exactly once so far */
        /* Indices of this cycle are distinct: each sets its own bit. */
        static _Atomic uint32_t seen[2];
        uint32_t bit = 1u << index;
        uint32_t old = atomic_fetch_or(&seen[c % 2], bit);
        CHECK(!(old & bit));
        /* The cycle's last leaver clears the mask two cycles later: cycle c+1 uses
         * the other mask, and cycle c+2 cannot start before all of c+1 arrived,
         * which each of us does only after this. */
        if ((old | bit) == (1u << PARTIES) - 1)
            atomic_store(&seen[c % 2], 0);
    }
    return NULL;
}

static void eight_parties_exact(void)
{
    cycles = wf_test_scale(10000);
    marks = calloc((size_t)cycles * PARTIES, sizeof *marks);
    CHECK(marks);
    action_cycle = action_errors = 0;
    CHECK_EQ(weft_barrier_init(&barrier, PARTIES, exact_action, NULL, WEFT_FOREVER), 0);
    int ids[PARTIES];
    for (int i = 0; i < PARTIES; i++)
        ids[i] = i;
    wf_test_run_threads(PARTIES, exact_party, ids, sizeof ids[0]);
    CHECK_EQ(action_cycle, cycles); /* exactly one action per cycle */
    CHECK_EQ(action_errors, 0);
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 0);
    CHECK(!weft_barrier_broken(&barrier));
    free(marks);
}

/* ---- more threads than parties --------------------------------------------------- */

enum { FEW = 3, MANY = 7 };
static long overlap_actions; /* written by the actions only, one at a time */
static long overlap_target;
static _Atomic bool overlap_stop;
static _Atomic long index_counts[FEW];

static int count_action(void *arg)
{
    (void)arg;
    if (++overlap_actions == overlap_target)
        atomic_store(&overlap_stop, true);
    return 0;
}

static void *overlap_thread(void *arg)
{
    (void)arg;
    while (!atomic_load(&overlap_stop)) {
        uint32_t index = FEW;
        int rc = weft_barrier_wait(&barrier, WEFT_FOREVER, &index);
        if (rc == EPIPE)
            break; /* the final abort releases the leftovers */
        CHECK_EQ(rc, 0);
        CHECK(index < FEW);
        atomic_fetch_add(&index_counts[index], 1);
    }
    return NULL;
}

static void more_threads_than_parties(void)
{
    overlap_target = wf_test_scale(12000);
    overlap_actions = 0;
    atomic_store(&overlap_stop, false);
    for (int i = 0; i < FEW; i++)
        atomic_store(&index_counts[i], 0);
    CHECK_EQ(weft_barrier_init(&barrier, FEW, count_action, NULL, WEFT_FOREVER), 0);
    pthread_t th[MANY];
    for (int i = 0; i < MANY; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, overlap_thread, NULL), 0);
    while (!atomic_load(&overlap_stop))
        sched_yield();
    /* Fewer than FEW threads may be left waiting for a cycle that cannot fill. */
    CHECK_EQ(weft_barrier_abort(&barrier), 0);
    for (int i = 0; i < MANY; i++)
        pthread_join(th[i], NULL);
    CHECK(overlap_actions >= overlap_target);
    /* Each completed cycle handed out each index exactly once. */
    for (int i = 0; i < FEW; i++)
        CHECK_EQ(atomic_load(&index_counts[i]), overlap_actions);
}

/* ---- chaos: timeouts, aborts, resets ---------------------------------------------- */

static _Atomic bool chaos_stop;
static _Atomic long chaos_ok, chaos_broken, chaos_timeouts;

static void *chaos_party(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    while (!atomic_load(&chaos_stop)) {
        int64_t timeout = rand_r(&seed) % 4 == 0 ? (int64_t)(rand_r(&seed) % 200) * 1000
                                                 : WEFT_MS(20);
        uint32_t index = 99;
        int64_t t0 = weft_now_ns();
        int rc = weft_barrier_wait(&barrier, timeout, &index);
        switch (rc) {
        case 0:
            CHECK(index < 4);
            atomic_fetch_add(&chaos_ok, 1);
            break;
        case ETIMEDOUT:
            CHECK(weft_now_ns() - t0 >= timeout);
            atomic_fetch_add(&chaos_timeouts, 1);
            break;
        case EPIPE:
            atomic_fetch_add(&chaos_broken, 1);
            if (rand_r(&seed) % 2)
                CHECK_EQ(weft_barrier_reset(&barrier), 0);
            else
                sched_yield();
            break;
        default:
            CHECK(false);
        }
    }
    return NULL;
}

static void *chaos_monkey(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    long rounds = wf_test_scale(3000);
    for (long i = 0; i < rounds; i++) {
        switch (rand_r(&seed) % 4) {
        case 0:
            CHECK_EQ(weft_barrier_abort(&barrier), 0);
            break;
        case 1:
            CHECK_EQ(weft_barrier_reset(&barrier), 0);
            break;
        default:
            (void)weft_barrier_n_waiting(&barrier);
            (void)weft_barrier_broken(&barrier);
            break;
        }
        usleep(rand_r(&seed) % 100); /* let cycles fill (or time out) in between */
    }
    atomic_store(&chaos_stop, true);
    /* Leave it usable so the parties can finish their last waits. */
    CHECK_EQ(weft_barrier_abort(&barrier), 0);
    return NULL;
}

static void *clean_party(void *arg)
{
    (void)arg;
    uint32_t index = 99;
    CHECK_EQ(weft_barrier_wait(&barrier, WEFT_FOREVER, &index), 0);
    CHECK(index < 4);
    return NULL;
}

static void chaos(void)
{
    enum { P = 4 };
    atomic_store(&chaos_stop, false);
    chaos_ok = chaos_broken = chaos_timeouts = 0;
    CHECK_EQ(weft_barrier_init(&barrier, P, NULL, NULL, WEFT_FOREVER), 0);
    pthread_t th[P + 1];
    for (int i = 0; i < P; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, chaos_party, (void *)(uintptr_t)(i + 1)), 0);
    CHECK_EQ(pthread_create(&th[P], NULL, chaos_monkey, (void *)(uintptr_t)99), 0);
    for (int i = 0; i <= P; i++)
        pthread_join(th[i], NULL);
    /* Quiescent now: nobody waits, so a reset leaves a fresh barrier (a stale
     * SLEEPERS bit only costs a wake call). */
    CHECK_EQ(weft_barrier_reset(&barrier), 0);
    CHECK(!weft_barrier_broken(&barrier));
    CHECK_EQ(weft_barrier_n_waiting(&barrier), 0);
    CHECK_EQ(atomic_load(&barrier.word) & ~(WEFT_BARRIER_GEN_MASK | WEFT_BARRIER_SLEEPERS), 0);
    CHECK(atomic_load(&chaos_ok) + atomic_load(&chaos_broken) + atomic_load(&chaos_timeouts) > 0);
    printf("chaos: %ld ok, %ld broken, %ld timeouts\n", atomic_load(&chaos_ok), atomic_load(&chaos_broken), atomic_load(&chaos_timeouts));
    /* And it completes clean cycles. */
    for (int round = 0; round < 3; round++) {
        wf_test_run_threads(P, clean_party, NULL, 0);
        CHECK(!weft_barrier_broken(&barrier));
    }
}

TEST_MAIN(TEST(eight_parties_exact), TEST(more_threads_than_parties), TEST(chaos))
