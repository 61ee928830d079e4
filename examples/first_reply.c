/* A hedged request: sent to two replicas, answered by whichever replies first, under
 * one deadline. Each request carries a cancellation token; a replica does the
 * request's work (here: a cancellable sleep as long as its latency) under that token,
 * so once the client has its answer it fires the token and the slower replica drops
 * the work at once instead of finishing it. The request's token is a child of the
 * caller's: a caller that gives up (fires its own token, from any thread) cancels
 * both the wait for a reply (-ECANCELED) and the replicas' work. A request whose
 * replicas are both slower than its deadline gets -ETIMEDOUT.
 * Exits non-zero if a request got a wrong answer or the wrong outcome. */
#include <stdint.h>
#include <stdio.h>

#include "weft.h"

enum { REPLICAS = 2, REQUESTS = 4 };

typedef struct request {
    uintptr_t n;
    weft_cancel token; /* fired once the request needs no more work */
} request;

typedef struct replica {
    const char *name;
    weft_queue *requests, *replies; /* of request * */
    int64_t latency_ns[REQUESTS];    /* how long this replica takes for each request */
    weft_thread thread;
    int abandoned;                   /* requests it dropped, cancelled half way */
} replica;

static replica replicas[REPLICAS] = {
    {.name = "east", .latency_ns = {WEFT_MS(1), WEFT_SEC(2), WEFT_SEC(2), WEFT_SEC(2)}},
    {.name = "west", .latency_ns = {WEFT_SEC(2), WEFT_MS(1), WEFT_SEC(2), WEFT_SEC(2)}},
};
static request requests[REQUESTS]; /* outlive every use: the replicas may look late */

static void *serve(void *arg)
{
    replica *r = arg;
    void *p;
    while (weft_queue_get(r->requests, &p, WEFT_FOREVER) == 0) {
        request *req = p;
        /* The work: done when its time is up, dropped if the token fires first. */
        weft_deadline d = weft_deadline_with_cancel(weft_deadline_in(r->latency_ns[req->n]),
                                                    &req->token);
        if (weft_wait_any_until(NULL, 0, d) == -ECANCELED) {
            r->abandoned++;
            continue;
        }
        if (weft_queue_put(r->replies, req, WEFT_FOREVER) != 0)
            break;
    }
    return NULL; /* the request queue was shut down */
}

/* Sends request n to both replicas and waits for the first reply to it, at most until
 * `timeout_ns` from now or until `caller` fires. Returns the replica that answered,
 * or -ETIMEDOUT / -ECANCELED; either way the replicas' work on it is cancelled. */
static int ask(uintptr_t n, int64_t timeout_ns, const weft_cancel *caller)
{
    request *req = &requests[n];
    req->n = n;
    if (weft_cancel_init_child(&req->token, caller) != 0)
        return -EINVAL;
    for (int i = 0; i < REPLICAS; i++)
        if (weft_queue_put(replicas[i].requests, req, WEFT_FOREVER) != 0)
            return -EPIPE;
    weft_deadline d = weft_deadline_with_cancel(weft_deadline_in(timeout_ns), caller);
    int who;
    for (;;) {
        weft_source s[REPLICAS];
        for (int i = 0; i < REPLICAS; i++)
            s[i] = weft_source_queue_get(replicas[i].replies);
        who = weft_wait_any_until(s, REPLICAS, d);
        if (who < 0 || s[who].item == req)
            break;
        /* A late reply to an earlier request (both replicas finished at once). */
    }
    weft_cancel_fire(&req->token); /* the other replica can stop */
    return who;
}

int main(void)
{
    int failed = 0;
    for (int i = 0; i < REPLICAS; i++) {
        if (weft_queue_create(&replicas[i].requests, 0, WEFT_FIFO) != 0 ||
            weft_queue_create(&replicas[i].replies, 0, WEFT_FIFO) != 0 ||
            weft_thread_start(&replicas[i].thread, serve, &replicas[i], NULL) != 0)
            return 1;
    }
    weft_cancel caller = WEFT_CANCEL_INIT;

    /* Requests 0 and 1: one replica answers in 1 ms; the other's 2 s of work is
     * dropped, so it is free again for the next request. */
    for (uintptr_t n = 0; n < 2; n++) {
        int64_t t0 = weft_now_ns();
        int who = ask(n, WEFT_SEC(1), &caller);
        printf("request %lu: %s answered after %.1f ms\n", (unsigned long)n,
               who >= 0 ? replicas[who].name : "nobody", (double)(weft_now_ns() - t0) / 1e6);
        failed |= who != (int)n; /* east is fast for 0, west for 1 */
    }

    /* Request 2: both replicas need 2 s; the deadline is 50 ms. */
    int r = ask(2, WEFT_MS(50), &caller);
    printf("request 2: %s\n", r == -ETIMEDOUT ? "timed out, as it should" : "wrong outcome");
    failed |= r != -ETIMEDOUT;

    /* Request 3: the caller gives up. Another thread would fire its token at any
     * time; fired before the wait, the wait ends as soon as it would block. */
    weft_cancel_fire(&caller);
    r = ask(3, WEFT_SEC(5), &caller);
    printf("request 3: %s\n", r == -ECANCELED ? "cancelled, as it should" : "wrong outcome");
    failed |= r != -ECANCELED;

    for (int i = 0; i < REPLICAS; i++) {
        weft_queue_shutdown(replicas[i].requests, false);
        failed |= weft_thread_join(replicas[i].thread, WEFT_SEC(10), NULL) != 0;
        weft_thread_release(replicas[i].thread);
        printf("%s dropped %d requests half way\n", replicas[i].name, replicas[i].abandoned);
        weft_queue_destroy(replicas[i].requests);
        weft_queue_destroy(replicas[i].replies);
    }
    return failed;
}
