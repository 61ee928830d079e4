#include "check.h"

#include "internal.h" /* wf_thread_set_pinned */
#include "os.h"       /* what the OS seam gives this backend */

#include <unistd.h>

/* The Linux backend reports kernel tids and names OS threads; the portable one
 * gives its own ids and names no OS thread. */
static bool kernel_ids(void)
{
    return strcmp(WF_TEST_BACKEND, "linux") == 0;
}

/* A gate threads wait at until the test opens it (plain pthreads, so that these
 * tests depend on no other weft family). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
} gate;

#define GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false}

static void gate_wait(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_reset(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = false;
    pthread_mutex_unlock(&g->mu);
}

static void *plus_one(void *arg)
{
    return (char *)arg + 1;
}

static void *wait_at_gate(void *arg)
{
    gate_wait(arg);
    return arg;
}

static void start_join_result(void)
{
    weft_thread th;
    char x;
    CHECK_EQ(weft_thread_start(&th, plus_one, &x, NULL), 0);
    void *res = NULL;
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK(res == &x + 1);
    CHECK(!weft_thread_is_alive(th));
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), EINVAL); /* joined twice */
    CHECK_EQ(weft_thread_join(th, 0, NULL), EINVAL);
    CHECK_EQ(weft_thread_release(th), 0);

    /* Result pointer may be NULL; a finite timeout that is long enough succeeds. */
    weft_thread_opts opts = WEFT_THREAD_OPTS_INIT;
    CHECK_EQ(weft_thread_start(&th, plus_one, &x, &opts), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_SEC(60), NULL), 0);
    CHECK_EQ(weft_thread_release(th), 0);
    CHECK_EQ(weft_thread_start(&th, plus_one, &x, NULL), 0);
    CHECK_EQ(weft_thread_join_until(th, weft_deadline_in(WEFT_SEC(60)), &res), 0);
    CHECK(res == &x + 1);
    CHECK_EQ(weft_thread_release(th), 0);
}

static void bad_arguments(void)
{
    weft_thread th = (weft_thread)&th;
    CHECK_EQ(weft_thread_start(NULL, plus_one, NULL, NULL), EINVAL);
    CHECK_EQ(weft_thread_start(&th, NULL, NULL, NULL), EINVAL);
    CHECK(th == (weft_thread)&th); /* untouched */
    CHECK_EQ(weft_thread_join(NULL, 0, NULL), EINVAL);
    CHECK_EQ(weft_thread_join_until(NULL, WEFT_DEADLINE_NEVER, NULL), EINVAL);
    CHECK_EQ(weft_thread_release(NULL), EINVAL);
    char buf[16];
    CHECK_EQ(weft_thread_name(NULL, buf, sizeof buf), EINVAL);
    CHECK_EQ(weft_thread_name(weft_thread_current(), NULL, 4), EINVAL);
    CHECK_EQ(weft_thread_name(weft_thread_current(), buf, 0), EINVAL);
    CHECK_EQ(weft_thread_set_name(NULL, "x"), EINVAL);
    CHECK_EQ(weft_thread_set_name(weft_thread_current(), NULL), EINVAL);
    CHECK_EQ(weft_thread_ident(NULL), 0);
    CHECK_EQ(weft_thread_native_id(NULL), -1);
    CHECK(!weft_thread_is_alive(NULL));
    CHECK(!weft_thread_daemon(NULL));
    CHECK_EQ(weft_thread_enumerate(NULL, 5), 0);
}

static gate g1 = GATE_INIT;

static void join_timeout_never_early(void)
{
    gate_reset(&g1);
    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, wait_at_gate, &g1, NULL), 0);
    CHECK_EQ(weft_thread_join(th, 0, NULL), ETIMEDOUT);
    int64_t timeouts[] = {WEFT_MS(1), WEFT_MS(20)};
    for (int i = 0; i < 2; i++) {
        int64_t t0 = weft_now_ns();
        CHECK_EQ(weft_thread_join(th, timeouts[i], NULL), ETIMEDOUT);
        CHECK(weft_now_ns() - t0 >= timeouts[i]);
    }
    weft_deadline d = weft_deadline_in(WEFT_MS(10));
    CHECK_EQ(weft_thread_join_until(th, d, NULL), ETIMEDOUT);
    CHECK(weft_deadline_passed(d));
    CHECK(weft_thread_is_alive(th));
    gate_open(&g1);
    void *res = NULL;
    CHECK_EQ(weft_thread_join(th, WEFT_SEC(60), &res), 0); /* timed-out joins left it joinable */
    CHECK(res == &g1);
    CHECK(!weft_thread_is_alive(th));
    CHECK_EQ(weft_thread_release(th), 0);
}

static void *join_own_handle(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_thread_join(weft_thread_current(), WEFT_FOREVER, NULL);
}

static void *join_main(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_thread_join(weft_thread_main(), 0, NULL);
}

static void join_self_and_unjoinable(void)
{
    weft_thread th;
    void *res;
    CHECK_EQ(weft_thread_start(&th, join_own_handle, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, EDEADLK);
    CHECK_EQ(weft_thread_release(th), 0);

    CHECK_EQ(weft_thread_join(weft_thread_main(), 0, NULL), EDEADLK); /* main is us */
    CHECK_EQ(weft_thread_start(&th, join_main, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, EINVAL); /* main was not started by weft */
    CHECK_EQ(weft_thread_release(th), 0);
}

/* Two joiners: while one owns the join, the other gets EINVAL. */
static weft_thread joined_by_two;
static _Atomic int second_joiner_result;

static void *first_joiner(void *arg)
{
    (void)arg;
    int r;
    /* The main thread's probing joins may own it for an instant: retry those. */
    while ((r = weft_thread_join(joined_by_two, WEFT_FOREVER, NULL)) == EINVAL &&
           !atomic_load(&second_joiner_result))
        usleep(100);
    return (void *)(intptr_t)r;
}

static void concurrent_joiners(void)
{
    gate_reset(&g1);
    atomic_store(&second_joiner_result, 0);
    CHECK_EQ(weft_thread_start(&joined_by_two, wait_at_gate, &g1, NULL), 0);
    weft_thread j;
    CHECK_EQ(weft_thread_start(&j, first_joiner, NULL, NULL), 0);
    int r;
    while ((r = weft_thread_join(joined_by_two, 0, NULL)) == ETIMEDOUT)
        usleep(1000);
    CHECK_EQ(r, EINVAL); /* the first joiner owns it now */
    atomic_store(&second_joiner_result, r);
    gate_open(&g1);
    void *res;
    CHECK_EQ(weft_thread_join(j, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 0);
    CHECK_EQ(weft_thread_join(joined_by_two, WEFT_FOREVER, NULL), EINVAL); /* already joined */
    CHECK_EQ(weft_thread_release(j), 0);
    CHECK_EQ(weft_thread_release(joined_by_two), 0);
}

static _Atomic int64_t seen_tid;

static void *record_tid(void *arg)
{
    (void)arg;
    atomic_store(&seen_tid, kernel_ids() ? (int64_t)gettid() : (int64_t)wf_os_thread_id());
    return NULL;
}

static void ident_and_native_id(void)
{
    weft_thread main_th = weft_thread_main();
    CHECK(weft_thread_ident(main_th) != 0);
    if (kernel_ids())
        CHECK_EQ(weft_thread_native_id(main_th), getpid());
    CHECK(weft_thread_native_id(main_th) > 0);
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        weft_thread th;
        CHECK_EQ(weft_thread_start(&th, record_tid, NULL, NULL), 0);
        int64_t tid = weft_thread_native_id(th); /* may wait for the thread to run */
        uint64_t id = weft_thread_ident(th);
        CHECK(id > last); /* never reused */
        CHECK(id != weft_thread_ident(main_th));
        last = id;
        CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
        CHECK_EQ(tid, atomic_load(&seen_tid));
        CHECK_EQ(weft_thread_native_id(th), tid); /* still answers once ended */
        CHECK_EQ(weft_thread_ident(th), id);
        CHECK_EQ(weft_thread_release(th), 0);
    }
}

static char os_name_seen[32];

static void *read_os_name(void *arg)
{
    (void)arg;
    CHECK_EQ(pthread_getname_np(pthread_self(), os_name_seen, sizeof os_name_seen), 0);
    return NULL;
}

static void *rename_self(void *arg)
{
    CHECK_EQ(weft_thread_set_name(weft_thread_current(), arg), 0);
    return read_os_name(NULL);
}

static void names(void)
{
    char buf[64], want[64];
    CHECK_EQ(weft_thread_name(weft_thread_main(), buf, sizeof buf), 0);
    CHECK(strcmp(buf, "MainThread") == 0);

    weft_thread th;
    CHECK_EQ(weft_thread_start(&th, plus_one, NULL, NULL), 0);
    CHECK_EQ(weft_thread_name(th, buf, sizeof buf), 0);
    snprintf(want, sizeof want, "Thread-%llu", (unsigned long long)weft_thread_ident(th));
    CHECK(strcmp(buf, want) == 0);
    CHECK_EQ(weft_thread_name(th, buf, 4), ERANGE);
    CHECK(strcmp(buf, "Thr") == 0);
    CHECK_EQ(weft_thread_set_name(th, "renamed"), 0); /* running or not */
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_name(th, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "renamed") == 0);
    CHECK_EQ(weft_thread_set_name(th, "renamed again"), 0);
    CHECK_EQ(weft_thread_name(th, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "renamed again") == 0);
    CHECK_EQ(weft_thread_release(th), 0);

    /* The OS name: whole when short, cut to 15 bytes, never inside a character. */
    struct {
        const char *name, *os;
    } cases[] = {
        {"worker", "worker"},
        {"a-rather-long-thread-name", "a-rather-long-t"},
        {"abcdefghijklmn\xc3\xa9xyz", "abcdefghijklmn"},  /* é at bytes 14-15 */
        {"abcdefghijklm\xc3\xa9xyz", "abcdefghijklm\xc3\xa9"}, /* é at 13-14 fits */
        {"", ""},
    };
    bool os_names = wf_os_thread_name_max() > 0;
    CHECK_EQ(os_names, kernel_ids());
    char inherited[32];
    CHECK_EQ(pthread_getname_np(pthread_self(), inherited, sizeof inherited), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        weft_thread_opts opts = {.name = cases[i].name};
        CHECK_EQ(weft_thread_start(&th, read_os_name, NULL, &opts), 0);
        CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
        /* Without OS names the thread keeps the name it inherited. */
        CHECK(strcmp(os_name_seen, os_names ? cases[i].os : inherited) == 0);
        CHECK_EQ(weft_thread_name(th, buf, sizeof buf), 0);
        CHECK(strcmp(buf, cases[i].name) == 0); /* the weft name is whole */
        CHECK_EQ(weft_thread_release(th), 0);
    }
    /* Renaming oneself renames the OS thread too. */
    CHECK_EQ(weft_thread_start(&th, rename_self, "self-renamed-thread", NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK(strcmp(os_name_seen, os_names ? "self-renamed-th" : inherited) == 0);
    CHECK_EQ(weft_thread_release(th), 0);
}

static void *current_ident(void *arg)
{
    (void)arg;
    weft_thread self = weft_thread_current();
    CHECK(self != NULL && self != weft_thread_main());
    CHECK(self == weft_thread_current());
    CHECK(weft_thread_is_alive(self));
    return (void *)(uintptr_t)weft_thread_ident(self);
}

/* In a started thread, current() is the very handle start gave. */
static gate g_handle = GATE_INIT;
static weft_thread started_handle;

static void *current_is_start_handle(void *arg)
{
    (void)arg;
    gate_wait(&g_handle); /* start has stored the handle */
    return (void *)(uintptr_t)(weft_thread_current() == started_handle);
}

static void current_is_the_start_handle(void)
{
    gate_reset(&g_handle);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(weft_thread_start(&started_handle, current_is_start_handle, NULL, NULL), 0);
        gate_open(&g_handle);
        void *same = NULL;
        CHECK_EQ(weft_thread_join(started_handle, WEFT_FOREVER, &same), 0);
        CHECK_EQ((uintptr_t)same, 1);
        CHECK_EQ(weft_thread_release(started_handle), 0);
        gate_reset(&g_handle);
    }
}

static void current_and_main(void)
{
    CHECK(weft_thread_current() == weft_thread_main());
    CHECK(weft_thread_is_alive(weft_thread_main()));
    CHECK(!weft_thread_daemon(weft_thread_main()));
    weft_thread th;
    void *res;
    CHECK_EQ(weft_thread_start(&th, current_ident, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK_EQ((uintptr_t)res, weft_thread_ident(th));
    CHECK_EQ(weft_thread_release(th), 0);
}

static void daemon_flag(void)
{
    weft_thread th;
    weft_thread_opts opts = {.daemon = true};
    CHECK_EQ(weft_thread_start(&th, plus_one, NULL, &opts), 0);
    CHECK(weft_thread_daemon(th));
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0); /* daemons can be joined */
    CHECK_EQ(weft_thread_release(th), 0);
    CHECK_EQ(weft_thread_start(&th, plus_one, NULL, NULL), 0);
    CHECK(!weft_thread_daemon(th));
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_release(th), 0);
}

/* A pthread weft did not start: adopted on current(), counted while it lives. */
static gate foreign_in = GATE_INIT, foreign_out = GATE_INIT;
static weft_thread foreign_self;

static void *foreign_thread(void *arg)
{
    (void)arg;
    weft_thread self = weft_thread_current();
    CHECK(self != NULL && weft_thread_current() == self);
    CHECK(weft_thread_daemon(self));
    CHECK_EQ(weft_thread_native_id(self),
             kernel_ids() ? (int64_t)gettid() : (int64_t)wf_os_thread_id());
    CHECK_EQ(weft_thread_release(self), EINVAL); /* borrowed */
    CHECK_EQ(weft_thread_exit(NULL), EINVAL);    /* not a weft thread */
    CHECK_EQ(weft_thread_join(self, 0, NULL), EDEADLK);
    foreign_self = self;
    gate_open(&foreign_in);
    gate_wait(&foreign_out);
    return NULL;
}

static void foreign_threads(void)
{
    size_t base = weft_thread_active_count();
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, foreign_thread, NULL), 0);
    gate_wait(&foreign_in);
    CHECK_EQ(weft_thread_active_count(), base + 1);
    weft_thread all[64], held = NULL;
    size_t n = weft_thread_enumerate(all, 64);
    CHECK_EQ(n, base + 1);
    for (size_t i = 0; i < n; i++) {
        if (all[i] == foreign_self)
            held = all[i];
        else
            CHECK_EQ(weft_thread_release(all[i]), 0);
    }
    CHECK(held != NULL);
    char buf[64], want[64];
    CHECK_EQ(weft_thread_name(held, buf, sizeof buf), 0);
    snprintf(want, sizeof want, "Dummy-%llu", (unsigned long long)weft_thread_ident(held));
    CHECK(strcmp(buf, want) == 0);
    CHECK_EQ(weft_thread_join(held, 0, NULL), EINVAL); /* not started by weft */
    CHECK(weft_thread_is_alive(held));
    gate_open(&foreign_out);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    /* Its descriptor went at its exit; our handle keeps it readable. */
    CHECK_EQ(weft_thread_active_count(), base);
    CHECK(!weft_thread_is_alive(held));
    CHECK_EQ(weft_thread_name(held, buf, sizeof buf), 0);
    CHECK(strcmp(buf, want) == 0);
    CHECK_EQ(weft_thread_release(held), 0);
}

static void active_count_and_enumerate(void)
{
    enum { N = 5 };
    gate_reset(&g1);
    size_t base = weft_thread_active_count();
    CHECK(base >= 1);
    weft_thread th[N];
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_thread_start(&th[i], wait_at_gate, &g1, NULL), 0);
        CHECK_EQ(weft_thread_active_count(), base + i + 1); /* counted at once */
    }
    weft_thread all[64];
    size_t n = weft_thread_enumerate(all, 64);
    CHECK_EQ(n, base + N);
    int found = 0;
    bool main_found = false;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            CHECK(all[i] != all[j]);
        for (int k = 0; k < N; k++)
            found += all[i] == th[k];
        main_found |= all[i] == weft_thread_main();
        CHECK(weft_thread_is_alive(all[i]));
    }
    CHECK_EQ(found, N);
    CHECK(main_found);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(weft_thread_release(all[i]), 0);
    CHECK_EQ(weft_thread_enumerate(all, 2), 2); /* room for two */
    CHECK_EQ(weft_thread_release(all[0]), 0);
    CHECK_EQ(weft_thread_release(all[1]), 0);
    CHECK_EQ(weft_thread_enumerate(all, 0), 0);
    gate_open(&g1);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(weft_thread_join(th[i], WEFT_FOREVER, NULL), 0);
        /* Uncounted by the time it is joined (the others may have ended too). */
        CHECK(weft_thread_active_count() <= base + N - i - 1);
        CHECK_EQ(weft_thread_release(th[i]), 0);
    }
    CHECK_EQ(weft_thread_active_count(), base);
}

static gate g_daemon = GATE_INIT;
static gate g_spawned = GATE_INIT;

/* Starts another non-daemon thread, which join_all must also wait for. */
static void *spawner(void *arg)
{
    weft_thread child;
    CHECK_EQ(weft_thread_start(&child, wait_at_gate, arg, NULL), 0);
    CHECK_EQ(weft_thread_release(child), 0); /* detached: join_all still waits */
    gate_open(&g_spawned);
    return NULL;
}

static void join_all(void)
{
    gate_reset(&g1);
    gate_reset(&g_daemon);
    gate_reset(&g_spawned);
    size_t base = weft_thread_active_count();
    weft_thread a, b, d;
    weft_thread_opts daemon = {.daemon = true};
    CHECK_EQ(weft_thread_start(&a, wait_at_gate, &g1, NULL), 0);
    CHECK_EQ(weft_thread_start(&b, spawner, &g1, NULL), 0);
    CHECK_EQ(weft_thread_start(&d, wait_at_gate, &g_daemon, &daemon), 0);
    gate_wait(&g_spawned);
    CHECK_EQ(weft_thread_join_all(0), ETIMEDOUT);
    int64_t t0 = weft_now_ns();
    CHECK_EQ(weft_thread_join_all(WEFT_MS(20)), ETIMEDOUT);
    CHECK(weft_now_ns() - t0 >= WEFT_MS(20));
    weft_deadline dl = weft_deadline_in(WEFT_MS(5));
    CHECK_EQ(weft_thread_join_all_until(dl), ETIMEDOUT);
    CHECK(weft_deadline_passed(dl));
    gate_open(&g1);
    CHECK_EQ(weft_thread_join_all(WEFT_FOREVER), 0); /* the daemon still runs */
    CHECK(!weft_thread_is_alive(a) && !weft_thread_is_alive(b));
    CHECK(weft_thread_is_alive(d));
    CHECK_EQ(weft_thread_active_count(), base + 1);
    void *res;
    CHECK_EQ(weft_thread_join(a, 0, &res), 0); /* join_all did not join them */
    CHECK(res == &g1);
    CHECK_EQ(weft_thread_join(b, 0, NULL), 0);
    CHECK_EQ(weft_thread_join_all(0), 0);
    gate_open(&g_daemon);
    CHECK_EQ(weft_thread_join(d, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_thread_release(a), 0);
    CHECK_EQ(weft_thread_release(b), 0);
    CHECK_EQ(weft_thread_release(d), 0);
    CHECK_EQ(weft_thread_active_count(), base);
}

static _Atomic int after_exit;

static void deep_exit(int depth)
{
    if (depth == 0)
        weft_thread_exit((void *)42);
    else
        deep_exit(depth - 1);
    atomic_store(&after_exit, 1);
}

static void *exits_early(void *arg)
{
    (void)arg;
    deep_exit(3);
    atomic_store(&after_exit, 1);
    return NULL;
}

/* A thread weft must keep running (what the pool marks its workers): exit is
 * refused with EPERM and the thread goes on; once unpinned it may exit. */
static void *pinned_exit(void *arg)
{
    (void)arg;
    wf_thread_set_pinned(true);
    int r = weft_thread_exit((void *)7);
    CHECK_EQ(r, EPERM);
    CHECK(weft_thread_is_alive(weft_thread_current()));
    wf_thread_set_pinned(false);
    weft_thread_exit((void *)(intptr_t)(r == EPERM ? 9 : 8));
    return NULL; /* not reached */
}

static void pinned_thread_exit_is_eperm(void)
{
    weft_thread th;
    void *res = NULL;
    CHECK_EQ(weft_thread_start(&th, pinned_exit, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 9);
    CHECK_EQ(weft_thread_release(th), 0);
}

static void *exit_from_foreign(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)weft_thread_exit(NULL);
}

static void thread_exit(void)
{
    weft_thread th;
    void *res;
    CHECK_EQ(weft_thread_start(&th, exits_early, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK_EQ(atomic_load(&after_exit), 0);
    CHECK(!weft_thread_is_alive(th));
    CHECK_EQ(weft_thread_release(th), 0);
    /* With a timed join too (the FINISHED word, not only pthread_join). */
    CHECK_EQ(weft_thread_start(&th, exits_early, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_SEC(60), &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK_EQ(weft_thread_release(th), 0);

    CHECK_EQ(weft_thread_exit(NULL), EINVAL); /* the main thread */
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, exit_from_foreign, NULL), 0);
    CHECK_EQ(pthread_join(pt, &res), 0);
    CHECK_EQ((intptr_t)res, EINVAL);
}

static void release_and_detach(void)
{
    size_t base = weft_thread_active_count();
    gate_reset(&g1);
    weft_thread th, h[4];
    CHECK_EQ(weft_thread_start(&th, wait_at_gate, &g1, NULL), 0);
    /* A second handle through enumerate: two releases are fine, a third is not. */
    size_t n = weft_thread_enumerate(h, 4);
    weft_thread extra = NULL;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == th)
            extra = h[i];
        else
            CHECK_EQ(weft_thread_release(h[i]), 0);
    }
    CHECK(extra == th);
    CHECK_EQ(weft_thread_release(th), 0);
    CHECK(weft_thread_is_alive(extra)); /* one handle left */
    CHECK_EQ(weft_thread_release(extra), 0);
    /* No handle is held, but the running thread keeps its descriptor. */
    CHECK_EQ(weft_thread_release(th), EINVAL);
    /* It was detached: a new handle (enumerate) cannot join it. */
    n = weft_thread_enumerate(h, 4);
    extra = NULL;
    for (size_t i = 0; i < n; i++) {
        if (h[i] == th)
            extra = h[i];
        else
            CHECK_EQ(weft_thread_release(h[i]), 0);
    }
    CHECK(extra == th);
    CHECK_EQ(weft_thread_join(extra, 0, NULL), EINVAL);
    CHECK_EQ(weft_thread_release(extra), 0);
    gate_open(&g1);
    CHECK_EQ(weft_thread_join_all(WEFT_FOREVER), 0); /* waits for detached ones too */
    CHECK_EQ(weft_thread_active_count(), base);

    /* Releasing an ended, never-joined thread reaps it (the leak checker watches). */
    CHECK_EQ(weft_thread_start(&th, plus_one, NULL, NULL), 0);
    CHECK_EQ(weft_thread_join_all(WEFT_FOREVER), 0);
    CHECK(!weft_thread_is_alive(th));
    CHECK_EQ(weft_thread_release(th), 0);

    CHECK_EQ(weft_thread_release(weft_thread_main()), EINVAL); /* borrowed */
}

/* A failed start keeps nothing and leaves *th as it was. */
static void failed_start_leaks_nothing(void)
{
    size_t base = weft_thread_active_count();
    weft_thread unchanged = (weft_thread)&base; /* any value the call must not touch */
    weft_thread th = unchanged;
    weft_thread_opts tiny = {.name = "tiny", .stack_size = 1};
    CHECK_EQ(weft_thread_start(&th, plus_one, NULL, &tiny), EINVAL);
    CHECK(th == unchanged);
    /* A stack no machine can map: pthread_create fails (EAGAIN on glibc). */
    weft_thread_opts huge = {.name = "huge", .stack_size = (size_t)1 << 46};
    int r = weft_thread_start(&th, plus_one, NULL, &huge);
    CHECK(r == EAGAIN || r == ENOMEM || r == EINVAL);
    CHECK(th == unchanged);
    CHECK_EQ(weft_thread_start(&th, NULL, NULL, NULL), EINVAL);
    CHECK(th == unchanged);
    CHECK_EQ(weft_thread_active_count(), base);
}

static size_t stack_seen;

static void *read_stack_size(void *arg)
{
    (void)arg;
    pthread_attr_t attr;
    CHECK_EQ(pthread_getattr_np(pthread_self(), &attr), 0);
    CHECK_EQ(pthread_attr_getstacksize(&attr, &stack_seen), 0);
    pthread_attr_destroy(&attr);
    return NULL;
}

static void stack_size_option(void)
{
    weft_thread th;
    weft_thread_opts opts = {.stack_size = 3u << 20};
    CHECK_EQ(weft_thread_start(&th, read_stack_size, NULL, &opts), 0);
    CHECK_EQ(weft_thread_join(th, WEFT_FOREVER, NULL), 0);
    CHECK(stack_seen >= opts.stack_size);
    CHECK_EQ(weft_thread_release(th), 0);
}

/* A thread that drops its own last handle while running: detached, freed at exit. */
static void *release_self(void *arg)
{
    weft_thread *slot = arg;
    gate_wait(&g1);
    CHECK_EQ(weft_thread_release(*slot), 0);
    return NULL;
}

static void release_own_handle(void)
{
    gate_reset(&g1);
    static weft_thread th;
    CHECK_EQ(weft_thread_start(&th, release_self, &th, NULL), 0);
    gate_open(&g1);
    CHECK_EQ(weft_thread_join_all(WEFT_FOREVER), 0);
}

TEST_MAIN(TEST(start_join_result), TEST(bad_arguments), TEST(join_timeout_never_early),
          TEST(join_self_and_unjoinable), TEST(concurrent_joiners), TEST(ident_and_native_id),
          TEST(names), TEST(current_is_the_start_handle), TEST(current_and_main), TEST(daemon_flag), TEST(foreign_threads),
          TEST(active_count_and_enumerate), TEST(join_all), TEST(thread_exit), TEST(pinned_thread_exit_is_eperm),
          TEST(release_and_detach), TEST(failed_start_leaks_nothing), TEST(stack_size_option),
          TEST(release_own_handle))
