/* Bounded stress of weft_local: waves of threads (weft and foreign) using many
 * keys, with every block made once and destroyed once and per-thread sums exact;
 * and delete racing the destructors of exiting threads, after which every block
 * of the key has been destroyed exactly once by the time delete returns. */
#include "../check.h"

#include <sched.h>

enum { ALIVE = 0x5EED, DEAD = 0xDEAD };
typedef struct {
    int magic;
    long sum;
    uint64_t owner;
} block;

static _Atomic long inits, dtors, dtor_sum;

static void block_init(void *p)
{
    block *b = p;
    CHECK_EQ(b->magic, 0);
    b->magic = ALIVE;
    atomic_fetch_add_explicit(&inits, 1, memory_order_relaxed);
}

static void block_dtor(void *p)
{
    block *b = p;
    CHECK_EQ(b->magic, ALIVE); /* destroyed once */
    b->magic = DEAD;
    atomic_fetch_add_explicit(&dtor_sum, b->sum, memory_order_relaxed);
    atomic_fetch_add_explicit(&dtors, 1, memory_order_relaxed);
}

enum { KEYS = 40, WAVE = 8 };
static weft_local keys[KEYS];
static long gets_per_thread;
static _Atomic uint64_t next_owner;

static void *use_keys(void *arg)
{
    (void)arg;
    uint64_t me = atomic_fetch_add(&next_owner, 1) + 1;
    for (long i = 0; i < gets_per_thread; i++) {
        block *b = weft_local_get(keys[i % KEYS]);
        CHECK(b != NULL && b->magic == ALIVE);
        if (b->owner == 0)
            b->owner = me;
        CHECK_EQ(b->owner, me); /* never another thread's block */
        b->sum++;
    }
    return NULL;
}

static void waves_of_threads(void)
{
    long waves = wf_test_scale(400);
    gets_per_thread = 2000;
    atomic_store(&inits, 0);
    atomic_store(&dtors, 0);
    atomic_store(&dtor_sum, 0);
    for (int k = 0; k < KEYS; k++)
        CHECK_EQ(weft_local_create(&keys[k], sizeof(block), block_init, block_dtor), 0);
    long threads = 0;
    for (long w = 0; w < waves; w++) {
        weft_thread th[WAVE / 2];
        pthread_t pt[WAVE / 2];
        for (int i = 0; i < WAVE / 2; i++) {
            CHECK_EQ(weft_thread_start(&th[i], use_keys, NULL, NULL), 0);
            CHECK_EQ(pthread_create(&pt[i], NULL, use_keys, NULL), 0);
        }
        for (int i = 0; i < WAVE / 2; i++) {
            CHECK_EQ(weft_thread_join(th[i], WEFT_FOREVER, NULL), 0);
            CHECK_EQ(weft_thread_release(th[i]), 0);
            CHECK_EQ(pthread_join(pt[i], NULL), 0);
        }
        threads += WAVE;
        /* Quiescent: every block made has been destroyed, sums exact. */
        CHECK_EQ(atomic_load(&inits), threads * KEYS);
        CHECK_EQ(atomic_load(&dtors), threads * KEYS);
        CHECK_EQ(atomic_load(&dtor_sum), threads * gets_per_thread);
        if (w % 10 == 9) { /* recycle a few keys between waves */
            for (int k = 0; k < KEYS; k += 7) {
                CHECK_EQ(weft_local_delete(keys[k]), 0);
                CHECK_EQ(weft_local_create(&keys[k], sizeof(block), block_init, block_dtor), 0);
            }
        }
    }
    for (int k = 0; k < KEYS; k++)
        CHECK_EQ(weft_local_delete(keys[k]), 0);
    CHECK_EQ(atomic_load(&dtors), threads * KEYS); /* nobody else held a block */
}

/* ---- delete racing exits ---- */

static weft_local racing_key;
static _Atomic int done_using;

static void *use_then_exit(void *arg)
{
    long extra = (long)(intptr_t)arg;
    block *b = weft_local_get(racing_key);
    CHECK(b != NULL);
    b->sum = 1;
    atomic_fetch_add(&done_using, 1); /* from here on the key is not used */
    for (volatile long i = 0; i < extra; i++)
        ;
    return NULL;
}

static void delete_races_exit(void)
{
    long rounds = wf_test_scale(300);
    for (long r = 0; r < rounds; r++) {
        atomic_store(&inits, 0);
        atomic_store(&dtors, 0);
        atomic_store(&dtor_sum, 0);
        atomic_store(&done_using, 0);
        CHECK_EQ(weft_local_create(&racing_key, sizeof(block), block_init, block_dtor), 0);
        weft_thread th[WAVE / 2];
        pthread_t pt[WAVE / 2];
        for (int i = 0; i < WAVE / 2; i++) {
            void *extra = (void *)(intptr_t)((r * 7 + i) % 5 * 2000);
            CHECK_EQ(weft_thread_start(&th[i], use_then_exit, extra, NULL), 0);
            CHECK_EQ(pthread_create(&pt[i], NULL, use_then_exit, extra), 0);
        }
        while (atomic_load(&done_using) < WAVE)
            sched_yield();
        CHECK_EQ(weft_local_delete(racing_key), 0);
        /* Whether delete or the exiting thread destroyed it, every block is gone
         * by now, each once. */
        CHECK_EQ(atomic_load(&inits), WAVE);
        CHECK_EQ(atomic_load(&dtors), WAVE);
        CHECK_EQ(atomic_load(&dtor_sum), WAVE);
        for (int i = 0; i < WAVE / 2; i++) {
            CHECK_EQ(weft_thread_join(th[i], WEFT_FOREVER, NULL), 0);
            CHECK_EQ(weft_thread_release(th[i]), 0);
            CHECK_EQ(pthread_join(pt[i], NULL), 0);
        }
        CHECK_EQ(atomic_load(&dtors), WAVE);
    }
}

TEST_MAIN(TEST(waves_of_threads), TEST(delete_races_exit))
