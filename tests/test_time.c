#include "check.h"

static void deadline_conversions(void)
{
    CHECK_EQ(weft_deadline_in(WEFT_FOREVER).ns, INT64_MAX);
    CHECK_EQ(weft_deadline_in(-12345).ns, INT64_MAX);
    CHECK_EQ(weft_deadline_in(INT64_MAX).ns, INT64_MAX); /* saturates */
    int64_t before = weft_now_ns();
    weft_deadline d = weft_deadline_in(WEFT_MS(50));
    CHECK(d.ns >= before + WEFT_MS(50));
    CHECK(d.ns <= weft_now_ns() + WEFT_MS(50));
    CHECK(!weft_deadline_passed(d));
    CHECK(weft_deadline_remaining(d) <= WEFT_MS(50));
    CHECK(weft_deadline_passed(weft_deadline_in(0)));
    CHECK_EQ(weft_deadline_remaining(weft_deadline_in(0)), 0);
    CHECK(!weft_deadline_passed(WEFT_DEADLINE_NEVER));
    CHECK_EQ(weft_deadline_remaining(WEFT_DEADLINE_NEVER), INT64_MAX);
}

static void units(void)
{
    CHECK_EQ(WEFT_MS(3), 3000000);
    CHECK_EQ(WEFT_SEC(2), 2000000000);
    CHECK_EQ(WEFT_US(7), 7000);
    CHECK_EQ(WEFT_SEC(10), 10000000000LL); /* no int overflow */
}

static void monotonic(void)
{
    int64_t a = weft_now_ns();
    for (int i = 0; i < 1000; i++) {
        int64_t b = weft_now_ns();
        CHECK(b >= a);
        a = b;
    }
}

TEST_MAIN(TEST(deadline_conversions), TEST(units), TEST(monotonic))
