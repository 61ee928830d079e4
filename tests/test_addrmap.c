/* The address map (src/addrmap.h) against a plain array as the model: every
 * insert, find and remove of a long seeded sequence agrees with it, across growth
 * and the backward shifts of removal; and primitives' names, which live in one. */
#include "check.h"
#include "addrmap.h"

enum { KEYS = 3000, STEPS = 200000 };

static char objects[KEYS]; /* their addresses are the keys */
static void *model[KEYS];  /* NULL: absent */

static uint64_t rng = 0x9E3779B97F4A7C15u;
static unsigned next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 11);
}

static void against_model(void)
{
    wf_addrmap m = WF_ADDRMAP_INIT;
    CHECK(wf_addrmap_find(&m, &objects[0]) == NULL);
    CHECK(wf_addrmap_remove(&m, &objects[0]) == NULL);
    size_t held = 0;
    for (long step = 0; step < STEPS; step++) {
        unsigned k = next_random() % KEYS, op = next_random() % 3;
        void *key = &objects[k];
        if (op == 0) {
            void **slot = wf_addrmap_insert(&m, key);
            CHECK(slot != NULL);
            CHECK(*slot == model[k]);
            if (!model[k])
                held++;
            model[k] = *slot = (void *)(uintptr_t)(step + 1);
        } else if (op == 1) {
            CHECK(wf_addrmap_remove(&m, key) == model[k]);
            if (model[k])
                held--;
            model[k] = NULL;
        } else {
            void **slot = wf_addrmap_find(&m, key);
            CHECK((slot ? *slot : NULL) == model[k]);
        }
        CHECK_EQ(m.n, held);
        CHECK(2 * m.n <= m.cap);
    }
    /* Every key is found, and iteration sees each held one once. */
    size_t seen = 0;
    WF_ADDRMAP_FOREACH(s, &m) {
        size_t k = (size_t)((const char *)s->key - objects);
        CHECK(k < KEYS && model[k] == s->value);
        seen++;
    }
    CHECK_EQ(seen, held);
    for (unsigned k = 0; k < KEYS; k++) {
        void **slot = wf_addrmap_find(&m, &objects[k]);
        CHECK((slot ? *slot : NULL) == model[k]);
    }
    free(m.slots);
}

static void names(void)
{
    static int a, b;
    CHECK(weft_name_get(&a) == NULL);
    CHECK_EQ(weft_name_set(NULL, "x"), EINVAL);
    CHECK(weft_name_get(NULL) == NULL);
    CHECK_EQ(weft_name_set(&a, "first"), 0);
    CHECK_EQ(weft_name_set(&b, "other"), 0);
    CHECK(strcmp(weft_name_get(&a), "first") == 0);
    CHECK_EQ(weft_name_set(&a, "second"), 0); /* renamed */
    CHECK(strcmp(weft_name_get(&a), "second") == 0);
    CHECK_EQ(weft_name_set(&a, NULL), 0); /* removed */
    CHECK(weft_name_get(&a) == NULL);
    CHECK_EQ(weft_name_set(&a, NULL), 0); /* removing nothing is fine */
    CHECK(strcmp(weft_name_get(&b), "other") == 0);
    CHECK_EQ(weft_name_set(&b, NULL), 0);
}

TEST_MAIN(TEST(against_model), TEST(names))
