// Every public header compiles as C++17 and the fast paths link to the library's
// external definitions.
#include "weft.h"

#include <cstdio>

int main()
{
    weft_lock l = WEFT_LOCK_INIT;
    if (weft_lock_acquire(&l) != 0 || !weft_lock_locked(&l) || weft_lock_release(&l) != 0)
        return 1;
    static_assert(sizeof(weft_lock) == 4, "lock is 4 bytes");
    weft_rlock r = WEFT_RLOCK_INIT;
    if (weft_rlock_acquire(&r) != 0 || !weft_rlock_owned(&r) || weft_rlock_release(&r) != 0)
        return 1;
    static_assert(sizeof(weft_rlock) <= 16, "rlock is at most 16 bytes");
    weft_rwlock rw = WEFT_RWLOCK_INIT;
    if (weft_rwlock_read_acquire(&rw) != 0 || weft_rwlock_write_try_acquire(&rw) ||
        weft_rwlock_read_release(&rw) != 0 || weft_rwlock_write_acquire(&rw) != 0 ||
        weft_rwlock_write_release(&rw) != 0)
        return 1;
    static_assert(sizeof(weft_rwlock) <= 8, "rwlock is at most 8 bytes");
    weft_sem s = WEFT_SEM_INIT(1);
    if (!weft_sem_try_acquire(&s) || weft_sem_release(&s, 1) != 0 || weft_sem_value(&s) != 1)
        return 1;
    static_assert(sizeof(weft_sem) <= 8, "sem is at most 8 bytes");
    weft_event e = WEFT_EVENT_INIT;
    if (weft_event_set(&e) != 0 || !weft_event_is_set(&e) || weft_event_wait(&e, 0) != 0)
        return 1;
    static_assert(sizeof(weft_event) == 4, "event is 4 bytes");
    weft_once o = WEFT_ONCE_INIT;
    if (weft_once_call(&o, [](void *) {}, nullptr) != 0 || !weft_once_done(&o))
        return 1;
    static_assert(sizeof(weft_once) == 4, "once is 4 bytes");
    weft_thread th;
    void *res = nullptr;
    if (weft_thread_start(&th, [](void *a) -> void * { return a; }, &th, nullptr) != 0 ||
        weft_thread_join(th, WEFT_FOREVER, &res) != 0 || res != &th || weft_thread_release(th) != 0)
        return 1;
    static_assert(sizeof(weft_thread_opts) <= 24, "thread opts");
    weft_local k = WEFT_LOCAL_INIT;
    if (weft_local_create(&k, sizeof(int), nullptr, nullptr) != 0 || !weft_local_get(k) ||
        weft_local_delete(k) != 0)
        return 1;
    static_assert(sizeof(weft_local) == 8, "a local key is 8 bytes");
    weft_cond c = WEFT_COND_INIT;
    if (weft_lock_acquire(&l) != 0 || weft_cond_notify(&c, 1) != 0 ||
        weft_cond_notify_all(&c) != 0 || weft_cond_wait(&c, &l, 0) != ETIMEDOUT ||
        weft_cond_waiting(&c) || weft_lock_release(&l) != 0)
        return 1;
    static_assert(sizeof(weft_cond) == 4, "cond is 4 bytes");
    weft_barrier b = WEFT_BARRIER_INIT(1);
    uint32_t index = 9;
    if (weft_barrier_wait(&b, WEFT_FOREVER, &index) != 0 || index != 0 ||
        weft_barrier_parties(&b) != 1 || weft_barrier_n_waiting(&b) != 0 || weft_barrier_broken(&b))
        return 1;
    weft_timer tm = WEFT_TIMER_INIT;
    if (weft_timer_start(&tm, WEFT_SEC(60), [](void *) {}, nullptr) != 0 ||
        !weft_timer_pending(&tm) || weft_timer_cancel(&tm) != 0)
        return 1;
    weft_pool_options po = WEFT_POOL_OPTIONS_INIT;
    po.max_workers = 1;
    weft_pool *pool = nullptr;
    weft_future *fut = nullptr;
    void *got = nullptr;
    if (weft_pool_create(&pool, &po) != 0 ||
        weft_pool_submit(pool, [](void *a, void **r) -> int { *r = a; return 0; }, &po, &fut) != 0 ||
        weft_future_result(fut, WEFT_FOREVER, &got) != 0 || got != &po ||
        !weft_future_done(fut) || weft_future_release(fut) != 0 || weft_pool_destroy(pool) != 0)
        return 1;
    static_assert(WEFT_ALL_COMPLETED != WEFT_FIRST_COMPLETED, "wait conditions");
    static_assert(sizeof(weft_pool_options) <= 48, "pool options");
    weft_queue *q = nullptr;
    weft_simplequeue *sq = nullptr;
    void *item = nullptr, *pair[2] = {&q, &sq};
    if (weft_queue_create(&q, 2, WEFT_FIFO) != 0 || weft_queue_put(q, &q, 0) != 0 ||
        weft_queue_put_many(q, pair, 2, 0) != 1 || !weft_queue_full(q) ||
        weft_queue_get(q, &item, WEFT_FOREVER) != 0 || item != &q ||
        weft_queue_get_many(q, pair, 2, 0) != 1 || weft_queue_qsize(q) != 0 ||
        weft_queue_task_done(q) != 0 || weft_queue_join(q, 0) != ETIMEDOUT ||
        weft_queue_shutdown(q, true) != 0 || weft_queue_put(q, &q, 0) != ESHUTDOWN ||
        weft_queue_destroy(q) != 0)
        return 1;
    if (weft_simplequeue_create(&sq) != 0 || weft_simplequeue_put(sq, &sq) != 0 ||
        weft_simplequeue_get(sq, &item, 0) != 0 || item != &sq || !weft_simplequeue_empty(sq) ||
        weft_simplequeue_destroy(sq) != 0)
        return 1;
    static_assert(WEFT_FIFO != WEFT_LIFO && WEFT_LIFO != WEFT_PRIORITY, "queue kinds");
    std::puts("ok cxx_headers");
    return 0;
}
