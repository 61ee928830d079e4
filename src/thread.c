/* weft_thread: Python's threading.Thread on pthreads.
 *
 * Every thread weft knows has a descriptor: started threads (made by
 * weft_thread_start), the main thread (made when the library loads) and foreign
 * threads (made on their first weft_thread_current). The calling thread's is in
 * the thread-local wf_self. Live descriptors are linked in the registry (a list
 * under wf_registry.lock, newest first), which active_count, enumerate and
 * join_all read.
 *
 * Descriptor words (32-bit atomics):
 *
 *   state     value                   meaning
 *             0                       running
 *             WF_STATE_WAITERS        running, a joiner may sleep on the word
 *             WF_STATE_FINISHED       ended: locals destroyed, deregistered,
 *                                     `result` written (WAITERS is dropped)
 *
 *   join      WF_JOIN_IDLE (0)        started thread, not reaped, nobody joining
 *             WF_JOIN_BUSY            one join owns it (waiting or reaping)
 *             WF_JOIN_DONE            reaped by pthread_join
 *             WF_JOIN_DETACHED        reaped by pthread_detach (last handle gone)
 *
 *   refs      WF_REF_LIVE             the thread has not yet ended
 *             + n * WF_REF_HANDLE     n handles (start, enumerate) not released
 *             the descriptor is freed when refs reaches 0 (never the main one)
 *
 *   tid       0                       the new thread has not yet said its id
 *             WF_TID_WAITING          ... and native_id sleeps on the word
 *             other                   the OS's thread id (wf_os_thread_id)
 *
 * Invariants: a descriptor is registered only while WF_REF_LIVE is set, so the
 * registry may hand out handles under its lock; FINISHED is set together with
 * deregistration, under the registry lock, so a joined thread is never counted
 * and a started thread is either listed or FINISHED; `pthread` is written under
 * the registry lock before `registered` is published, by whichever of the creator
 * and the new thread registers first, so every handle's holder can read it.
 *
 * Join with a timeout waits on `state` through the waiting core (no
 * pthread_timedjoin_np), then reaps with pthread_join, which at that point only
 * waits out the thread's last few instructions.
 *
 * Under ThreadSanitizer the registry is bookkeeping (src/tsan.h): its critical
 * sections run with TSan's sync and access tracking off, so that the lock every
 * thread takes at start and exit orders no user thread after another. The edges
 * a user is owed are told outside them: start (pthread_create), join and
 * join_all (`state`'s FINISHED), a handle's last release (`refs`).
 *
 * Thread exit: a started thread runs the exit hook (src/waiting.h: locals, caches)
 * itself on its way out, before it counts as finished; main and foreign threads
 * get it from the hook's pthread key, whose WF_EXIT_THREAD stage retires their
 * descriptor after their locals are gone. */
#include "list.h"
#include "os.h"
#include "tsan.h"
#include "waiting.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WF_STATE_WAITERS 1u
#define WF_STATE_FINISHED 2u

#define WF_JOIN_IDLE 0u
#define WF_JOIN_BUSY 1u
#define WF_JOIN_DONE 2u
#define WF_JOIN_DETACHED 3u

#define WF_REF_LIVE 1u
#define WF_REF_HANDLE 2u

/* Above any Linux tid (pid_max is at most 2^22) and any portable id short of 2^32
 * threads. Also the flag of native_id's flag-then-wait: the word is 0 until the
 * thread says its id, and 0 | WF_TID_WAITING is WF_TID_WAITING. */
#define WF_TID_WAITING UINT32_MAX

/* A UTF-8 continuation byte is 10xxxxxx. */
#define WF_UTF8_CONT_MASK 0xC0u
#define WF_UTF8_CONT 0x80u

/* Room for the OS name: Linux keeps 15 bytes, FreeBSD 19; an OS that keeps more
 * gets the name cut at WF_OS_NAME_ROOM - 1 bytes. */
#define WF_OS_NAME_ROOM 32

enum wf_thread_kind { WF_KIND_STARTED, WF_KIND_MAIN, WF_KIND_FOREIGN };

struct weft_thread_desc {
    _Atomic uint32_t state;
    _Atomic uint32_t join;
    _Atomic uint32_t refs;
    _Atomic uint32_t tid;
    _Atomic bool registered; /* set once, under the registry lock */
    bool daemon;             /* immutable */
    bool exiting;            /* the thread's own: it has begun to finish */
    bool pinned;             /* the thread's own: weft_thread_exit refuses (a worker) */
    bool has_os_name;        /* immutable: os_name to be given at start */
    enum wf_thread_kind kind;
    uint64_t ident;
    void *(*fn)(void *);
    void *arg;
    void *result;      /* written by the thread before FINISHED */
    pthread_t pthread; /* see the invariants above */
    weft_lock name_lock;
    char *name; /* NULL: the default name; guarded by name_lock */
    char os_name[WF_OS_NAME_ROOM];
    wf_list_node link; /* in the registry, under its lock */
};

static struct {
    weft_lock lock;
    wf_list list;         /* of weft_thread_desc.link, newest first */
    _Atomic size_t count; /* changed under the lock; read without it */
} wf_registry = {WEFT_LOCK_INIT, {NULL, NULL}, 0};

/* initial-exec: one %fs-relative load in current(), as for weft__local_tls. */
static _Thread_local struct weft_thread_desc *wf_self __attribute__((tls_model("initial-exec")));
static struct weft_thread_desc *wf_main_desc;
static _Atomic uint64_t wf_last_ident;
static pthread_once_t wf_thread_once = PTHREAD_ONCE_INIT;

/* ---- descriptors -------------------------------------------------------------- */

static struct weft_thread_desc *wf_desc_new(enum wf_thread_kind kind)
{
    /* malloc, then zeroed: glibc's calloc skips the thread's cache of small
     * blocks (a third of the library's instructions in a start and join). */
    struct weft_thread_desc *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    *t = (struct weft_thread_desc){.kind = kind};
    /* relaxed: uniqueness needs only the atomicity of the increment. */
    t->ident = atomic_fetch_add_explicit(&wf_last_ident, 1, memory_order_relaxed) + 1;
    return t;
}

static void wf_desc_free(struct weft_thread_desc *t)
{
    if (t->kind == WF_KIND_MAIN)
        return; /* weft_thread_main's handle lasts as long as the process */
    free(t->name);
    free(t);
}

static void wf_desc_unref(struct weft_thread_desc *t, uint32_t amount)
{
    /* acq_rel: our last uses of *t happen before the free, whoever frees. */
    if (atomic_fetch_sub_explicit(&t->refs, amount, memory_order_acq_rel) == amount)
        wf_desc_free(t);
}

/* ---- the registry ------------------------------------------------------------- */

/* The registry lock, taken as bookkeeping (see the top of the file). */
static void wf_registry_lock(void)
{
    wf_tsan_ignore_begin();
    weft_lock_acquire(&wf_registry.lock);
}

static void wf_registry_unlock(void)
{
    weft_lock_release(&wf_registry.lock);
    wf_tsan_ignore_end();
}

/* Links t (at most once) and records its pthread. Called by both the creator and
 * the new thread, so that t is listed before start returns and before fn runs. */
static void wf_register(struct weft_thread_desc *t, pthread_t pt)
{
    /* acquire: if already registered, the registrant's `pthread` is visible. */
    if (atomic_load_explicit(&t->registered, memory_order_acquire))
        return;
    wf_registry_lock();
    if (!atomic_load_explicit(&t->registered, memory_order_relaxed)) {
        t->pthread = pt;
        /* The descriptor's making happens before a scan that hands it out
         * (enumerate, join_all): told, the section reopened (src/tsan.h). */
        wf_tsan_ignore_end();
        wf_tsan_release(t);
        wf_tsan_ignore_begin();
        wf_list_push_front(&wf_registry.list, &t->link);
        /* relaxed: the lock orders it against other writers; readers of the count
         * want a snapshot. */
        atomic_fetch_add_explicit(&wf_registry.count, 1, memory_order_relaxed);
        /* release: publishes `pthread` to the lock-free check above. */
        atomic_store_explicit(&t->registered, true, memory_order_release);
    }
    wf_registry_unlock();
}

/* The end of every descriptor's thread: unlisted and FINISHED in one step under
 * the registry lock, then joiners woken and the thread's reference dropped (which
 * may free t). One step, so that a registry scan (join_all) that misses t also
 * sees it FINISHED: a thread unlisted but still alive would let join_all return
 * while it runs. */
static void wf_retire(struct weft_thread_desc *t)
{
    wf_self = NULL; /* a later current() (in another TLS destructor) adopts anew */
    wf_registry_lock();
    wf_list_remove(&wf_registry.list, &t->link);
    /* relaxed: as in wf_register. */
    atomic_fetch_sub_explicit(&wf_registry.count, 1, memory_order_relaxed);
    /* release: `result`, the deregistration and all the thread did happen before a
     * joiner's acquire. The one edge of this section the user is owed: told. */
    wf_tsan_ignore_end();
    wf_tsan_release(&t->state);
    if (t->kind == WF_KIND_STARTED && !t->daemon)
        wf_tsan_release(&wf_registry.list); /* join_all's edge, see there */
    uint32_t old = atomic_exchange_explicit(&t->state, WF_STATE_FINISHED, memory_order_release);
    wf_tsan_ignore_begin();
    wf_registry_unlock();
    /* Lost wakeup avoided: a joiner sleeps only while state reads WAITERS; we
     * changed it before waking, so it either sees FINISHED or is woken here. t is
     * still ours (WF_REF_LIVE) until the unref below. */
    if (old & WF_STATE_WAITERS)
        wf_wake(&t->state, INT_MAX);
    wf_desc_unref(t, WF_REF_LIVE);
}

/* WF_EXIT_THREAD: a main or foreign thread is exiting (pthread_exit of main
 * included), its locals already destroyed: retire its descriptor. A started
 * thread retires itself in wf_thread_finish (and has no wf_self by the time the
 * hook's pthread key runs the stages again). */
static void wf_adopted_exit(void)
{
    struct weft_thread_desc *t = wf_self;
    if (t && t->kind != WF_KIND_STARTED)
        wf_retire(t);
}

/* Makes a descriptor for the calling thread, which weft did not start. */
static struct weft_thread_desc *wf_adopt(enum wf_thread_kind kind)
{
    struct weft_thread_desc *t = wf_desc_new(kind);
    if (!t)
        return NULL;
    t->daemon = kind == WF_KIND_FOREIGN; /* Python's dummy threads are daemons */
    /* relaxed: no reader yet; registration publishes the descriptor. */
    atomic_store_explicit(&t->refs, WF_REF_LIVE, memory_order_relaxed);
    atomic_store_explicit(&t->tid, wf_os_thread_id(), memory_order_relaxed);
    wf_exit_arm(); /* its WF_EXIT_THREAD stage retires t */
    wf_self = t;
    wf_register(t, pthread_self());
    return t;
}

static void wf_thread_init(void)
{
    wf_exit_register(WF_EXIT_THREAD, wf_adopted_exit);
    wf_main_desc = wf_self ? wf_self : wf_adopt(WF_KIND_MAIN);
}

/* The loading thread (the main thread, for a linked library) is the main thread. */
__attribute__((constructor)) static void wf_thread_load(void)
{
    pthread_once(&wf_thread_once, wf_thread_init);
}

/* ---- starting and ending ------------------------------------------------------- */

/* Cuts `name` to the OS limit without splitting a UTF-8 character. */
static void wf_os_name(char out[WF_OS_NAME_ROOM], const char *name)
{
    size_t max = wf_os_thread_name_max();
    if (max > WF_OS_NAME_ROOM - 1)
        max = WF_OS_NAME_ROOM - 1;
    size_t len = strnlen(name, max + 1);
    if (len > max) {
        len = max;
        /* name[len] is the first byte left out: a continuation byte means the
         * character straddles the cut; back off to its lead byte. */
        while (len > 0 && ((unsigned char)name[len] & WF_UTF8_CONT_MASK) == WF_UTF8_CONT)
            len--;
    }
    memcpy(out, name, len);
    out[len] = '\0';
}

/* Everything a started thread does on its way out, before its pthread returns. */
static void wf_thread_finish(struct weft_thread_desc *t, void *result)
{
    t->exiting = true;
    t->result = result;
    wf_exit_run(); /* local destructors first: current() still works in them */
    wf_retire(t);
}

static void *wf_thread_run(void *p)
{
    struct weft_thread_desc *t = p;
    wf_self = t;
    wf_register(t, pthread_self());
    /* relaxed: the tid is the only datum. */
    uint32_t old = atomic_exchange_explicit(&t->tid, wf_os_thread_id(), memory_order_relaxed);
    /* Lost wakeup avoided: native_id sleeps only while tid reads WAITING, and the
     * exchange changed it before this wake. */
    if (old == WF_TID_WAITING)
        wf_wake(&t->tid, INT_MAX);
    if (t->has_os_name)
        wf_os_set_thread_name(t->os_name);
    wf_thread_finish(t, t->fn(t->arg));
    return NULL;
}

int weft_thread_start(weft_thread *th, void *(*fn)(void *), void *arg,
                      const weft_thread_opts *opts)
{
    static const weft_thread_opts defaults = WEFT_THREAD_OPTS_INIT;
    if (!th || !fn)
        return EINVAL;
    if (!opts)
        opts = &defaults;
    pthread_once(&wf_thread_once, wf_thread_init);

    struct weft_thread_desc *t = wf_desc_new(WF_KIND_STARTED);
    if (!t)
        return ENOMEM;
    t->daemon = opts->daemon;
    t->fn = fn;
    t->arg = arg;
    /* relaxed: pthread_create publishes the descriptor to the new thread. */
    atomic_store_explicit(&t->refs, WF_REF_LIVE + WF_REF_HANDLE, memory_order_relaxed);
    if (opts->name) {
        t->name = strdup(opts->name);
        if (!t->name) {
            free(t);
            return ENOMEM;
        }
        t->has_os_name = wf_os_thread_name_max() > 0;
        if (t->has_os_name)
            wf_os_name(t->os_name, opts->name);
    }

    pthread_attr_t attr, *attrp = NULL;
    int r = 0;
    if (opts->stack_size) {
        r = pthread_attr_init(&attr);
        if (r == 0) {
            attrp = &attr;
            r = pthread_attr_setstacksize(&attr, opts->stack_size);
        }
    }
    pthread_t pt;
    if (r == 0)
        r = pthread_create(&pt, attrp, wf_thread_run, t);
    if (attrp)
        pthread_attr_destroy(attrp);
    if (r != 0) {
        free(t->name);
        free(t);
        return r;
    }
    wf_register(t, pt);
    *th = t;
    return 0;
}

int weft_thread_exit(void *result)
{
    struct weft_thread_desc *t = wf_self;
    if (!t || t->kind != WF_KIND_STARTED || t->exiting)
        return EINVAL;
    if (t->pinned)
        return EPERM;
    wf_thread_finish(t, result);
    pthread_exit(NULL);
}

void wf_thread_set_pinned(bool pinned)
{
    struct weft_thread_desc *t = wf_self;
    if (t)
        t->pinned = pinned;
}

/* ---- join ------------------------------------------------------------------------ */

/* Sleeps until t has FINISHED or `d` passes (or its token fires): 0 or ETIMEDOUT. */
static int wf_wait_finished(struct weft_thread_desc *t, weft_deadline d)
{
    /* acquire: FINISHED carries the thread's `result` and its work (as does
     * every reload in wf_sleep_flagged). */
    uint32_t s = atomic_load_explicit(&t->state, memory_order_acquire);
    /* A fired token: give up before setting WAITERS (weft/cancel.h); the sleep
     * looks at it again, so this is only a shortcut. */
    if (!(s & WF_STATE_FINISHED) && wf_cancelled(d))
        return ETIMEDOUT;
    while (!(s & WF_STATE_FINISHED)) {
        /* Lost wakeup avoided: we sleep only while state still reads WAITERS; the
         * finishing thread exchanges it for FINISHED before waking (wf_retire). */
        if (wf_sleep_flagged(&t->state, &s, WF_STATE_WAITERS, d) == ETIMEDOUT &&
            !(s & WF_STATE_FINISHED))
            return ETIMEDOUT;
    }
    wf_tsan_acquire(&t->state);
    return 0;
}

int weft_thread_join_until(weft_thread t, weft_deadline d, void **result)
{
    if (!t)
        return EINVAL;
    if (t == wf_self)
        return EDEADLK;
    if (t->kind != WF_KIND_STARTED)
        return EINVAL;
    uint32_t idle = WF_JOIN_IDLE;
    /* relaxed: claiming the join orders no data (pthread_join and the FINISHED
     * acquire below carry the thread's writes). */
    if (!atomic_compare_exchange_strong_explicit(&t->join, &idle, WF_JOIN_BUSY,
                                                 memory_order_relaxed, memory_order_relaxed))
        return EINVAL;
    /* Without a deadline or a token pthread_join does the waiting: one sleep, not
     * two. A token needs the waiting core's sleep, which watches its word too. */
    if ((d.ns != INT64_MAX || d.cancel) && wf_wait_finished(t, d) == ETIMEDOUT) {
        /* relaxed: hands the join back; nothing was done, so t stays joinable. */
        atomic_store_explicit(&t->join, WF_JOIN_IDLE, memory_order_relaxed);
        return wf_cancel_result(ETIMEDOUT, d);
    }
    pthread_join(t->pthread, NULL);
    /* acquire: the edge from the thread's FINISHED store, on an atomic TSan sees
     * (it is set by now: the thread sets it before returning). */
    (void)atomic_load_explicit(&t->state, memory_order_acquire);
    wf_tsan_acquire(&t->state);
    /* relaxed: later joins only need to see it is taken. */
    atomic_store_explicit(&t->join, WF_JOIN_DONE, memory_order_relaxed);
    if (result)
        *result = t->result;
    return 0;
}

int weft_thread_join(weft_thread t, int64_t timeout_ns, void **result)
{
    return weft_thread_join_until(t, weft_deadline_in(timeout_ns), result);
}

int weft_thread_release(weft_thread t)
{
    if (!t)
        return EINVAL;
    for (;;) {
        /* relaxed: the CAS or the locked path below re-checks. */
        uint32_t r = atomic_load_explicit(&t->refs, memory_order_relaxed);
        if (r < WF_REF_HANDLE)
            return EINVAL;
        if (r >= 2 * WF_REF_HANDLE) {
            /* Not the last handle: nothing can free t under us. release: our uses
             * of t happen before whoever frees it (who acquires). */
            if (atomic_compare_exchange_weak_explicit(&t->refs, &r, r - WF_REF_HANDLE,
                                                      memory_order_release,
                                                      memory_order_relaxed))
                return 0;
            continue;
        }
        /* The last handle: under the registry lock no enumerate can add one while
         * we detach. Detach before the decrement, which may free t. */
        wf_registry_lock();
        r = atomic_load_explicit(&t->refs, memory_order_relaxed);
        if (r >= 2 * WF_REF_HANDLE || r < WF_REF_HANDLE) {
            wf_registry_unlock();
            if (r < WF_REF_HANDLE)
                return EINVAL;
            continue;
        }
        uint32_t idle = WF_JOIN_IDLE;
        /* relaxed: the join word only arbitrates who reaps. */
        if (t->kind == WF_KIND_STARTED &&
            atomic_compare_exchange_strong_explicit(&t->join, &idle, WF_JOIN_DETACHED,
                                                    memory_order_relaxed, memory_order_relaxed))
            pthread_detach(t->pthread);
        /* acq_rel: as in wf_desc_unref; an edge the freeing party is owed (the
         * thread's last touches of t happen before the free): told. */
        wf_tsan_ignore_end();
        r = atomic_fetch_sub_explicit(&t->refs, WF_REF_HANDLE, memory_order_acq_rel);
        wf_tsan_ignore_begin();
        wf_registry_unlock();
        if (r == WF_REF_HANDLE)
            wf_desc_free(t);
        return 0;
    }
}

/* ---- queries ------------------------------------------------------------------- */

bool weft_thread_is_alive(weft_thread t)
{
    /* acquire: a caller who sees it ended may read what the thread wrote. */
    if (!t || (atomic_load_explicit(&t->state, memory_order_acquire) & WF_STATE_FINISHED)) {
        if (t)
            wf_tsan_acquire(&t->state);
        return false;
    }
    return true;
}

bool weft_thread_daemon(weft_thread t)
{
    return t && t->daemon;
}

uint64_t weft_thread_ident(weft_thread t)
{
    return t ? t->ident : 0;
}

int64_t weft_thread_native_id(weft_thread t)
{
    if (!t)
        return -1;
    /* relaxed: the id is the only datum (wf_sleep_flagged's acquires are more
     * than it needs). */
    uint32_t v = atomic_load_explicit(&t->tid, memory_order_relaxed);
    /* Lost wakeup avoided: we sleep only while tid reads WAITING; the new thread
     * exchanges in its id before it wakes us (wf_thread_run). */
    while (v == 0 || v == WF_TID_WAITING)
        wf_sleep_flagged(&t->tid, &v, WF_TID_WAITING, WEFT_DEADLINE_NEVER);
    return v;
}

int weft_thread_name(weft_thread t, char *buf, size_t size)
{
    if (!t || !buf || size == 0)
        return EINVAL;
    int n;
    weft_lock_acquire(&t->name_lock);
    if (t->name)
        n = snprintf(buf, size, "%s", t->name);
    else if (t->kind == WF_KIND_MAIN)
        n = snprintf(buf, size, "MainThread");
    else
        n = snprintf(buf, size, "%s-%llu", t->kind == WF_KIND_FOREIGN ? "Dummy" : "Thread",
                     (unsigned long long)t->ident);
    weft_lock_release(&t->name_lock);
    return n >= 0 && (size_t)n < size ? 0 : ERANGE;
}

int weft_thread_set_name(weft_thread t, const char *name)
{
    if (!t || !name)
        return EINVAL;
    char *copy = strdup(name);
    if (!copy)
        return ENOMEM;
    weft_lock_acquire(&t->name_lock);
    char *old = t->name;
    t->name = copy;
    weft_lock_release(&t->name_lock);
    free(old);
    if (t == wf_self && wf_os_thread_name_max() > 0) {
        char os_name[WF_OS_NAME_ROOM];
        wf_os_name(os_name, name);
        wf_os_set_thread_name(os_name);
    }
    return 0;
}

weft_thread weft_thread_current(void)
{
    struct weft_thread_desc *t = wf_self;
    if (WF_LIKELY(t))
        return t;
    pthread_once(&wf_thread_once, wf_thread_init);
    return wf_self ? wf_self : wf_adopt(WF_KIND_FOREIGN);
}

weft_thread weft_thread_main(void)
{
    pthread_once(&wf_thread_once, wf_thread_init);
    return wf_main_desc;
}

size_t weft_thread_active_count(void)
{
    pthread_once(&wf_thread_once, wf_thread_init);
    /* relaxed: a snapshot; a caller that joined a thread already saw its
     * deregistration happen before (the join's acquire). */
    return atomic_load_explicit(&wf_registry.count, memory_order_relaxed);
}

size_t weft_thread_enumerate(weft_thread *buf, size_t n)
{
    if (!buf)
        return 0;
    pthread_once(&wf_thread_once, wf_thread_init);
    size_t k = 0;
    wf_registry_lock();
    for (wf_list_node *node = wf_list_first(&wf_registry.list); node && k < n;
         node = node->next) {
        struct weft_thread_desc *t = WF_CONTAINER(node, struct weft_thread_desc, link);
        /* relaxed: t is alive (registered, so WF_REF_LIVE holds) and the lock
         * orders this against a last release. */
        atomic_fetch_add_explicit(&t->refs, WF_REF_HANDLE, memory_order_relaxed);
        buf[k++] = t;
    }
    wf_registry_unlock();
    for (size_t i = 0; i < k; i++)
        wf_tsan_acquire(buf[i]); /* see wf_register */
    return k;
}

int weft_thread_join_all_until(weft_deadline d)
{
    pthread_once(&wf_thread_once, wf_thread_init);
    for (;;) {
        /* One live non-daemon started thread at a time, held by a handle while we
         * wait; threads started meanwhile are found on a later pass. */
        struct weft_thread_desc *t = NULL;
        wf_registry_lock();
        WF_LIST_FOREACH(node, next, &wf_registry.list) {
            struct weft_thread_desc *c = WF_CONTAINER(node, struct weft_thread_desc, link);
            if (c->kind == WF_KIND_STARTED && !c->daemon && c != wf_self) {
                t = c;
                break;
            }
        }
        if (t) /* relaxed: as in enumerate */
            atomic_fetch_add_explicit(&t->refs, WF_REF_HANDLE, memory_order_relaxed);
        wf_registry_unlock();
        if (t)
            wf_tsan_acquire(t); /* see wf_register */
        if (!t) {
            /* Every non-daemon thread has ended, some before this scan could see
             * them: their ends, all told on the list's address, happen before. */
            wf_tsan_acquire(&wf_registry.list);
            return 0;
        }
        int r = wf_wait_finished(t, d);
        weft_thread_release(t);
        if (r)
            return wf_cancel_result(r, d);
    }
}

int weft_thread_join_all(int64_t timeout_ns)
{
    return weft_thread_join_all_until(weft_deadline_in(timeout_ns));
}
