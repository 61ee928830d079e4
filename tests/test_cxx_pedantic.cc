// Every public macro a C++ caller writes, under the strictest usual flags: the build
// compiles this file with -std=c++17 -Wall -Wextra -pedantic -Werror -Wold-style-cast
// (g++ in the plain configurations, clang++ in the TSan ones; scripts/test also
// builds it with both against the installed headers). A C-only spelling in a
// header (a compound literal, a C-style cast) fails the build here.
#include "weft.h"

#include <cstdio>
#include <cstring>

static_assert(WEFT_MS(3) == 3000000, "WEFT_MS");
static_assert(WEFT_SEC(10) == 10000000000LL, "WEFT_SEC does not overflow");
static_assert(WEFT_US(7) == 7000, "WEFT_US");
static_assert(WEFT_FOREVER < 0, "WEFT_FOREVER");
static_assert(WEFT_VERSION_MAJOR >= 0 && WEFT_VERSION_MINOR >= 0 && WEFT_VERSION_PATCH >= 0,
              "version numbers");

int main()
{
    weft_deadline never = WEFT_DEADLINE_NEVER;
    if (never.ns != INT64_MAX || weft_deadline_passed(WEFT_DEADLINE_NEVER) ||
        weft_deadline_remaining(never) != INT64_MAX)
        return 1;
    weft_lock l = WEFT_LOCK_INIT;
    weft_rlock r = WEFT_RLOCK_INIT;
    weft_cond c = WEFT_COND_INIT;
    weft_event e = WEFT_EVENT_INIT;
    weft_once o = WEFT_ONCE_INIT;
    weft_sem s = WEFT_SEM_INIT(2);
    weft_sem bs = WEFT_SEM_BOUNDED_INIT(1);
    weft_barrier b = WEFT_BARRIER_INIT(1);
    weft_timer tm = WEFT_TIMER_INIT;
    weft_local k = WEFT_LOCAL_INIT;
    weft_thread_opts to = WEFT_THREAD_OPTS_INIT;
    weft_pool_options po = WEFT_POOL_OPTIONS_INIT;
    (void)k;
    (void)to;
    (void)po;
    uint32_t index = 0;
    if (weft_lock_acquire_until(&l, WEFT_DEADLINE_NEVER) != 0 || weft_lock_release(&l) != 0 ||
        weft_rlock_acquire_for(&r, WEFT_MS(1)) != 0 || weft_rlock_release(&r) != 0 ||
        weft_lock_acquire(&l) != 0 || weft_cond_wait(&c, &l, WEFT_US(1)) != ETIMEDOUT ||
        weft_lock_release(&l) != 0 || weft_event_set(&e) != 0 ||
        weft_event_wait(&e, WEFT_SEC(1)) != 0 || weft_once_call(&o, [](void *) {}, nullptr) != 0 ||
        weft_sem_acquire_for(&s, WEFT_FOREVER) != 0 || weft_sem_release(&bs, 1) != EOVERFLOW ||
        weft_barrier_wait(&b, WEFT_BARRIER_DEFAULT, &index) != 0 ||
        weft_timer_start(&tm, WEFT_SEC(60), [](void *) {}, nullptr) != 0 ||
        weft_timer_cancel(&tm) != 0)
        return 1;
    if (std::strcmp(weft_version(), WEFT_VERSION) != 0 || weft_backend() == nullptr)
        return 1;
    std::printf("ok cxx_pedantic (weft %s, %s backend)\n", weft_version(), weft_backend());
    return 0;
}
