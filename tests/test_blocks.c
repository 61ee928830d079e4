/* The ordered block cache (src/blocks.h), white box: a thread's objects come in
 * address order from one block at a time; a block is reused only once every object
 * carved from it is freed, by whichever threads; an exiting thread's unused rest
 * counts as freed. This process uses no queue, so the queue nodes' class id is the
 * test's own. Under TSan there are no blocks (each object is a malloc): skipped. */
#include "check.h"
#include "blocks.h"

typedef struct {
    void *a, *b;
} pair; /* 16 bytes, as a queue node */

static wf_block_class cls = WF_BLOCK_CLASS_INIT(WF_BLOCK_QUEUE_NODE, sizeof(pair), _Alignof(pair));

static struct wf_block *block_of(void *p)
{
    return (struct wf_block *)((uintptr_t)p & ~(uintptr_t)(WF_BLOCK_BYTES - 1));
}

static void *objs[4 * WF_BLOCK_BYTES / sizeof(pair)];

static void carved_in_order_and_reused_whole(void)
{
    CHECK_EQ(cls.count, (WF_BLOCK_BYTES - cls.first) / sizeof(pair));
    CHECK(cls.first >= sizeof(struct wf_block));
    uint32_t n = cls.count;
    /* Two blocks' worth and one more. */
    for (uint32_t i = 0; i < 2 * n + 1; i++) {
        objs[i] = wf_block_alloc(&cls);
        CHECK(objs[i] != NULL);
        if (i % n != 0)
            CHECK(objs[i] == (char *)objs[i - 1] + sizeof(pair)); /* next in order */
        else
            CHECK((char *)objs[i] == (char *)block_of(objs[i]) + cls.first); /* a block's first */
    }
    struct wf_block *first = block_of(objs[0]), *second = block_of(objs[n]);
    CHECK(first != second && block_of(objs[2 * n]) != first && block_of(objs[2 * n]) != second);
    /* The first block, all but one freed: not reused. */
    for (uint32_t i = 1; i < n; i++)
        wf_block_free(&cls, objs[i]);
    CHECK_EQ(atomic_load(&first->freed), n - 1);
    for (uint32_t i = 2 * n + 1; i < 3 * n; i++) /* use up the third block */
        objs[i] = wf_block_alloc(&cls);
    for (uint32_t i = 3 * n; i < 4 * n; i++) /* a fourth block, fresh, kept live */
        objs[i] = wf_block_alloc(&cls);
    CHECK(block_of(objs[3 * n]) != first && block_of(objs[3 * n]) != second);
    /* Its last object freed, the first block goes to the depot, its count reset. */
    wf_block_free(&cls, objs[0]);
    CHECK_EQ(atomic_load(&first->freed), 0);
    void *again = wf_block_alloc(&cls);
    CHECK(again == (char *)first + cls.first); /* the first block, from its start */
    wf_block_free(&cls, again);
    for (uint32_t i = n; i < 4 * n; i++)
        wf_block_free(&cls, objs[i]);
}

static void *made[3];

static void *alloc_three(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        made[i] = wf_block_alloc(&cls);
    return NULL; /* exits with its block mostly unused */
}

static void exiting_thread_leaves_its_rest(void)
{
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, alloc_three, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
    struct wf_block *b = block_of(made[0]);
    CHECK(block_of(made[2]) == b);
    CHECK_EQ(atomic_load(&b->freed), cls.count - 3); /* the unused rest, counted */
    for (int i = 0; i < 3; i++)
        wf_block_free(&cls, made[i]); /* freed by another thread: the block is whole */
    CHECK_EQ(atomic_load(&b->freed), 0);
    /* This thread's block is used up after at most count allocations; the recycled
     * block then comes back from the depot, whose newest it is. */
    bool seen = false;
    void *got[1024];
    uint32_t k = 0;
    while (k < 2 * cls.count && !seen) {
        got[k] = wf_block_alloc(&cls);
        seen = got[k] == (char *)b + cls.first;
        k++;
    }
    CHECK(seen);
    for (uint32_t i = 0; i < k; i++)
        wf_block_free(&cls, got[i]);
}

/* Producers allocate and tag, consumers free: every object is handed out once at a
 * time (no object live twice), whichever thread frees it. */
enum { PRODUCERS = 2, PER = 20000, SLOTS = 4096 };
static _Atomic(void *) slots[SLOTS];
static _Atomic int produced, consumed;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER; i++) {
        pair *p = wf_block_alloc(&cls);
        CHECK(p != NULL);
        p->a = p; /* a live object carries its own address */
        int s = atomic_fetch_add(&produced, 1) % SLOTS;
        void *expected = NULL;
        while (!atomic_compare_exchange_weak(&slots[s], &expected, p))
            expected = NULL, sched_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < PER; i++) {
        int s = atomic_fetch_add(&consumed, 1) % SLOTS;
        void *p;
        while ((p = atomic_exchange(&slots[s], NULL)) == NULL)
            sched_yield();
        CHECK(((pair *)p)->a == p);
        ((pair *)p)->a = NULL;
        wf_block_free(&cls, p);
    }
    return NULL;
}

static void cross_thread_frees(void)
{
    pthread_t th[2 * PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        CHECK_EQ(pthread_create(&th[2 * i], NULL, producer, NULL), 0);
        CHECK_EQ(pthread_create(&th[2 * i + 1], NULL, consumer, NULL), 0);
    }
    for (int i = 0; i < 2 * PRODUCERS; i++)
        CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(atomic_load(&produced), PRODUCERS * PER);
}

int main(int argc, char **argv)
{
    if (wf_tsan_present()) {
        printf("skipped: no blocks under ThreadSanitizer\n");
        return 0;
    }
    static const wf_test_case cases[] = {
        TEST(carved_in_order_and_reused_whole),
        TEST(exiting_thread_leaves_its_rest),
        TEST(cross_thread_frees),
    };
    return wf_test_main(cases, sizeof cases / sizeof cases[0], argc, argv);
}
