#include "check.h"

#include <stdint.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open;
} gate;

#define GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static void gate_wait(gate *g, int round)
{
    pthread_mutex_lock(&g->mu);
    while (g->open < round)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g, int round)
{
    pthread_mutex_lock(&g->mu);
    g->open = round;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Blocks carry a magic word: init sets it, dtor checks and clears it, so a block
 * destroyed twice or never initialized fails the test. */
enum { ALIVE = 0x5EED, DEAD = 0xDEAD };
typedef struct {
    int magic;
    long value;
    char pad[100];
} block;

static _Atomic long inits, dtors, dtor_value_sum;

static void block_init(void *p)
{
    block *b = p;
    CHECK_EQ(b->magic, 0); /* zero-filled */
    CHECK_EQ(b->value, 0);
    for (size_t i = 0; i < sizeof b->pad; i++)
        CHECK_EQ(b->pad[i], 0);
    b->magic = ALIVE;
    atomic_fetch_add(&inits, 1);
}

static void block_dtor(void *p)
{
    block *b = p;
    CHECK_EQ(b->magic, ALIVE);
    b->magic = DEAD;
    atomic_fetch_add(&dtor_value_sum, b->value);
    atomic_fetch_add(&dtors, 1);
}

static void reset_counts(void)
{
    atomic_store(&inits, 0);
    atomic_store(&dtors, 0);
    atomic_store(&dtor_value_sum, 0);
}

static void create_errors(void)
{
    weft_local k;
    CHECK_EQ(weft_local_create(NULL, 8, NULL, NULL), EINVAL);
    CHECK_EQ(weft_local_create(&k, 0, NULL, NULL), EINVAL);
    CHECK_EQ(weft_local_create(&k, SIZE_MAX, NULL, NULL), EINVAL);
    weft_local zero = WEFT_LOCAL_INIT;
    CHECK(weft_local_get(zero) == NULL);
    CHECK_EQ(weft_local_delete(zero), EINVAL);
    weft_local bogus = {123456, 7};
    CHECK(weft_local_get(bogus) == NULL);
    CHECK_EQ(weft_local_delete(bogus), EINVAL);
}

static void get_same_block_zeroed(void)
{
    reset_counts();
    weft_local k;
    CHECK_EQ(weft_local_create(&k, sizeof(block), block_init, block_dtor), 0);
    CHECK(k.gen != 0);
    block *b = weft_local_get(k);
    CHECK(b != NULL);
    CHECK_EQ((uintptr_t)b % 64, 0); /* a cache line of its own */
    CHECK_EQ(b->magic, ALIVE);
    CHECK_EQ(atomic_load(&inits), 1);
    CHECK(weft_local_get(k) == b);
    CHECK_EQ(atomic_load(&inits), 1); /* init once */
    b->value = 7;
    CHECK_EQ(((block *)weft_local_get(k))->value, 7);

    /* No init, no dtor: still zero-filled. */
    weft_local plain;
    CHECK_EQ(weft_local_create(&plain, 3, NULL, NULL), 0);
    unsigned char *p = weft_local_get(plain);
    CHECK(p && p[0] == 0 && p[1] == 0 && p[2] == 0);
    CHECK(weft_local_get(plain) == p);
    CHECK_EQ(weft_local_delete(plain), 0);

    CHECK_EQ(weft_local_delete(k), 0);
    CHECK_EQ(atomic_load(&dtors), 1);
    CHECK_EQ(atomic_load(&dtor_value_sum), 7);
    CHECK(weft_local_get(k) == NULL);        /* deleted */
    CHECK_EQ(weft_local_delete(k), EINVAL); /* twice */
}

/* Each thread gets its own block, destroyed at its exit: weft threads before join
 * returns, foreign pthreads before pthread_join returns. */
static weft_local shared_key;
enum { ROUNDS = 1000 };

static void *count_in_block(void *arg)
{
    long id = (long)(intptr_t)arg;
    block *first = weft_local_get(shared_key);
    CHECK(first != NULL && first->magic == ALIVE && first->value == 0);
    for (int i = 0; i < ROUNDS; i++) {
        block *b = weft_local_get(shared_key);
        CHECK(b == first);
        b->value += id;
    }
    return first;
}

static void per_thread_blocks_and_exit_dtors(void)
{
    enum { N = 6 };
    reset_counts();
    CHECK_EQ(weft_local_create(&shared_key, sizeof(block), block_init, block_dtor), 0);
    weft_thread th[N];
    pthread_t pt[N];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_thread_start(&th[i], count_in_block, (void *)(intptr_t)(i + 1), NULL), 0);
        CHECK_EQ(pthread_create(&pt[i], NULL, count_in_block, (void *)(intptr_t)(i + 1)), 0);
    }
    long want = 0;
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_thread_join(th[i], i % 2 ? WEFT_FOREVER : WEFT_SEC(60), NULL), 0);
        CHECK_EQ(pthread_join(pt[i], NULL), 0);
        CHECK_EQ(weft_thread_release(th[i]), 0);
        want += 2L * ROUNDS * (i + 1);
        CHECK(atomic_load(&dtors) >= 2 * (i + 1)); /* done by join time */
    }
    CHECK_EQ(atomic_load(&inits), 2 * N);
    CHECK_EQ(atomic_load(&dtor_value_sum), want);
    CHECK_EQ(weft_local_delete(shared_key), 0);
    CHECK_EQ(atomic_load(&dtors), 2 * N); /* the main thread never touched it */
}

static void *touch_nothing(void *arg)
{
    return arg;
}

static void untouched_blocks_are_not_made(void)
{
    reset_counts();
    CHECK_EQ(weft_local_create(&shared_key, sizeof(block), block_init, block_dtor), 0);
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, touch_nothing, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_release(th), 0);
    CHECK_EQ(atomic_load(&inits), 0);
    CHECK_EQ(atomic_load(&dtors), 0);
    CHECK_EQ(weft_local_delete(shared_key), 0);
}

/* delete destroys the blocks of every live thread, which then see NULL. */
static gate hold = GATE_INIT;

static _Atomic int holders_ready;

static void *hold_until_released(void *arg)
{
    (void)arg;
    block *b = weft_local_get(shared_key);
    b->value = 1;
    atomic_fetch_add(&holders_ready, 1);
    gate_wait(&hold, 2); /* delete happens meanwhile */
    CHECK(weft_local_get(shared_key) == NULL);
    return NULL;
}

static void delete_destroys_live_blocks(void)
{
    enum { N = 4 };
    reset_counts();
    atomic_store(&holders_ready, 0);
    hold.open = 0;
    CHECK_EQ(weft_local_create(&shared_key, sizeof(block), block_init, block_dtor), 0);
    weft_thread th[N];
    pthread_t pt;
    for (int i = 0; i < N; i++)
        CHECK_EQ(weft_thread_start(&th[i], hold_until_released, NULL, NULL), 0);
    CHECK_EQ(pthread_create(&pt, NULL, hold_until_released, NULL), 0);
    while (atomic_load(&holders_ready) < N + 1)
        usleep(1000);
    ((block *)weft_local_get(shared_key))->value = 1; /* ours too */
    CHECK_EQ(weft_local_delete(shared_key), 0);
    CHECK_EQ(atomic_load(&dtors), N + 2);
    CHECK_EQ(atomic_load(&dtor_value_sum), N + 2);
    gate_open(&hold, 2);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_thread_join(th[i], WEFT_FOREVER, NULL), 0);
        CHECK_EQ(weft_thread_release(th[i]), 0);
    }
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_EQ(atomic_load(&dtors), N + 2); /* nothing destroyed twice at exit */
}

/* More keys than pthread allows, and slot reuse under a new generation. */
static void many_keys_and_reuse(void)
{
    enum { K = 3000 };
    static weft_local keys[K];
    for (int i = 0; i < K; i++) {
        CHECK_EQ(weft_local_create(&keys[i], sizeof(long), NULL, NULL), 0);
        long *v = weft_local_get(keys[i]);
        CHECK(v && *v == 0);
        *v = i;
    }
    for (int i = 0; i < K; i++)
        CHECK_EQ(*(long *)weft_local_get(keys[i]), i);
    for (int i = 0; i < K; i++)
        CHECK_EQ(weft_local_delete(keys[i]), 0);

    weft_local old, fresh;
    CHECK_EQ(weft_local_create(&old, sizeof(long), NULL, NULL), 0);
    *(long *)weft_local_get(old) = 99;
    CHECK_EQ(weft_local_delete(old), 0);
    CHECK_EQ(weft_local_create(&fresh, sizeof(long), NULL, NULL), 0);
    CHECK_EQ(fresh.slot, old.slot); /* reused... */
    CHECK(fresh.gen != old.gen);    /* ...under a new generation */
    CHECK(weft_local_get(old) == NULL);
    CHECK_EQ(*(long *)weft_local_get(fresh), 0); /* a new block, not the old one */
    CHECK_EQ(weft_local_delete(old), EINVAL);
    CHECK(weft_local_get(fresh) != NULL);
    CHECK_EQ(weft_local_delete(fresh), 0);
}

/* init that gets its own key sees the block being initialized; a dtor that gets
 * another key at exit makes a block that is destroyed too. */
static weft_local key_a, key_b;
static _Atomic int b_dtors;

static void init_a(void *p)
{
    CHECK(weft_local_get(key_a) == p);
}

static void dtor_b(void *p)
{
    (void)p;
    atomic_fetch_add(&b_dtors, 1);
}

static void dtor_a(void *p)
{
    (void)p;
    long *b = weft_local_get(key_b); /* at exit: a new block of b */
    CHECK(b != NULL);
    *b = 1;
}

static void *use_a(void *arg)
{
    (void)arg;
    CHECK(weft_local_get(key_a) != NULL);
    return NULL;
}

static void reentrant_init_and_dtor(void)
{
    atomic_store(&b_dtors, 0);
    CHECK_EQ(weft_local_create(&key_a, 16, init_a, dtor_a), 0);
    CHECK_EQ(weft_local_create(&key_b, 16, NULL, dtor_b), 0);
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, use_a, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_release(th), 0);
    CHECK_EQ(atomic_load(&b_dtors), 1);
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, use_a, NULL), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_EQ(atomic_load(&b_dtors), 2);
    CHECK_EQ(weft_local_delete(key_a), 0);
    CHECK_EQ(weft_local_delete(key_b), 0);
}

/* A destructor that keeps making blocks of its own key: each get makes a new
 * block (not the one being destroyed), destroyed in the next pass; in the last of
 * the 4 passes the get returns NULL, so every block made got its destructor. */
static _Atomic int regrow_inits, regrow_dtors, regrow_null_gets;
static weft_local key_regrow;

static void init_regrow(void *p)
{
    (void)p;
    atomic_fetch_add(&regrow_inits, 1);
}

static void dtor_regrow(void *p)
{
    atomic_fetch_add(&regrow_dtors, 1);
    void *again = weft_local_get(key_regrow);
    CHECK(again != p);
    if (!again)
        atomic_fetch_add(&regrow_null_gets, 1);
}

static void *use_regrow(void *arg)
{
    (void)arg;
    CHECK(weft_local_get(key_regrow) != NULL);
    return NULL;
}

static void regrow_counts(int *inits, int *dtors, int *nulls)
{
    *inits = atomic_exchange(&regrow_inits, 0);
    *dtors = atomic_exchange(&regrow_dtors, 0);
    *nulls = atomic_exchange(&regrow_null_gets, 0);
}

static void endless_dtor_is_bounded(void)
{
    int inits, dtors, nulls;
    regrow_counts(&inits, &dtors, &nulls);
    CHECK_EQ(weft_local_create(&key_regrow, 8, init_regrow, dtor_regrow), 0);
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, use_regrow, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_release(th), 0);
    regrow_counts(&inits, &dtors, &nulls);
    CHECK_EQ(dtors, 4);     /* one per pass */
    CHECK_EQ(inits, dtors); /* none freed without its destructor */
    CHECK_EQ(nulls, 1);     /* the last pass's get */
    /* A foreign thread: the same passes, from the thread-exit hook. */
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, use_regrow, NULL), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    regrow_counts(&inits, &dtors, &nulls);
    CHECK_EQ(dtors, 4);
    CHECK_EQ(inits, dtors);
    CHECK_EQ(nulls, 1);
    /* At delete a destructor's get of the key being deleted is NULL. */
    CHECK(weft_local_get(key_regrow) != NULL);
    CHECK_EQ(weft_local_delete(key_regrow), 0);
    regrow_counts(&inits, &dtors, &nulls);
    CHECK_EQ(inits, 1);
    CHECK_EQ(dtors, 1);
    CHECK_EQ(nulls, 1);
}

/* Exit with blocks held and no destructor: freed all the same. */
static weft_local key_nodtor;

static void *hold_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < 10; i++)
        CHECK(weft_local_get(key_nodtor) != NULL);
    return NULL;
}

static void exit_frees_blocks_without_dtor(void)
{
    CHECK_EQ(weft_local_create(&key_nodtor, 4096, NULL, NULL), 0);
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, hold_many, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_release(th), 0);
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, hold_many, NULL), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_EQ(weft_local_delete(key_nodtor), 0);
}

/* weft_thread_exit runs the destructors too; exit from a destructor is refused. */
static weft_local key_exit;
static _Atomic int exit_in_dtor;

static void dtor_tries_exit(void *p)
{
    (void)p;
    atomic_store(&exit_in_dtor, weft_thread_exit(NULL));
}

static void *exit_with_block(void *arg)
{
    (void)arg;
    CHECK(weft_local_get(key_exit) != NULL);
    weft_thread_exit((void *)5);
    return NULL;
}

static void thread_exit_destroys_blocks(void)
{
    atomic_store(&exit_in_dtor, 0);
    CHECK_EQ(weft_local_create(&key_exit, 8, NULL, dtor_tries_exit), 0);
    weft_thread th;
    void *res;
    CHECK_EQ(weft_thread_start(&th, exit_with_block, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 5);
    CHECK_EQ(atomic_load(&exit_in_dtor), EINVAL);
    CHECK_EQ(weft_thread_release(th), 0);
    CHECK_EQ(weft_local_delete(key_exit), 0);
}

/* delete while a thread runs the key's destructor at its exit: delete waits for
 * it, and every block is destroyed exactly once. */
static gate in_dtor = GATE_INIT, dtor_go = GATE_INIT;
static weft_local key_slow;
static _Atomic int slow_dtors;

static void slow_dtor(void *p)
{
    (void)p;
    gate_open(&in_dtor, 1);
    gate_wait(&dtor_go, 1);
    atomic_fetch_add(&slow_dtors, 1);
}

static void *use_slow(void *arg)
{
    (void)arg;
    CHECK(weft_local_get(key_slow) != NULL);
    return NULL;
}

static void *delete_slow(void *arg)
{
    (void)arg;
    CHECK_EQ(weft_local_delete(key_slow), 0);
    CHECK_EQ(atomic_load(&slow_dtors), 1); /* the exiting thread's ran first */
    return NULL;
}

static void delete_waits_for_exit_dtors(void)
{
    atomic_store(&slow_dtors, 0);
    CHECK_EQ(weft_local_create(&key_slow, 8, NULL, slow_dtor), 0);
    weft_thread user, deleter;
    CHECK_EQ(weft_thread_start(&user, use_slow, NULL, NULL), 0);
    gate_wait(&in_dtor, 1); /* the user thread is inside the destructor */
    CHECK_EQ(weft_thread_start(&deleter, delete_slow, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(deleter, WEFT_MS(30), NULL), ETIMEDOUT); /* delete waits */
    gate_open(&dtor_go, 1);
    CHECK_EQ(weft_thread_join(deleter, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_join(user, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(atomic_load(&slow_dtors), 1);
    CHECK_EQ(weft_thread_release(user), 0);
    CHECK_EQ(weft_thread_release(deleter), 0);
}

/* The main thread keeps its blocks to the end: still reachable, not a leak. */
static void main_thread_blocks_at_exit(void)
{
    weft_local k;
    CHECK_EQ(weft_local_create(&k, 256, NULL, NULL), 0);
    CHECK(weft_local_get(k) != NULL);
}

TEST_MAIN(TEST(create_errors), TEST(get_same_block_zeroed), TEST(per_thread_blocks_and_exit_dtors),
          TEST(untouched_blocks_are_not_made), TEST(delete_destroys_live_blocks),
          TEST(many_keys_and_reuse), TEST(reentrant_init_and_dtor), TEST(endless_dtor_is_bounded),
          TEST(exit_frees_blocks_without_dtor), TEST(thread_exit_destroys_blocks),
          TEST(delete_waits_for_exit_dtors), TEST(main_thread_blocks_at_exit))
