/* The seeds' crawler: 20 simulated downloads (a 50 ms sleep each) on a pool of 8
 * workers. One after the other they take 20 x 50 ms = 1 s; on the pool they run 8
 * at a time and finish in about three rounds, 150 ms: about a tenth (plus the
 * pool's start-up). Pages are printed as they complete (Python's as_completed),
 * then collected in order with weft_pool_map. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft.h"

enum { PAGES = 20, WORKERS = 8, DOWNLOAD_MS = 50 };

struct page {
    char url[64];
    size_t bytes;
};

/* "Download" a page: sleep, then return its made-up size. */
static int download(void *arg, void **result)
{
    const struct page *in = arg;
    struct timespec ts = {0, DOWNLOAD_MS * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
    struct page *out = malloc(sizeof *out);
    if (!out)
        return ENOMEM;
    *out = *in;
    out->bytes = 1000 + strlen(in->url) * 37;
    *result = out;
    return 0;
}

static int print_page(weft_future *f, void *arg)
{
    int *done = arg;
    void *res = NULL;
    int r = weft_future_result(f, 0, &res);
    if (r != 0)
        return r;
    struct page *pg = res;
    printf("  %2d. %-30s %5zu bytes\n", ++*done, pg->url, pg->bytes);
    free(pg);
    return 0;
}

int main(void)
{
    static struct page pages[PAGES];
    for (int i = 0; i < PAGES; i++)
        snprintf(pages[i].url, sizeof pages[i].url, "https://example.org/page/%d", i);

    weft_pool_options opts = WEFT_POOL_OPTIONS_INIT;
    opts.max_workers = WORKERS;
    opts.name_prefix = "crawler";
    weft_pool *pool;
    if (weft_pool_create(&pool, &opts) != 0)
        return 1;

    /* As they complete. */
    int64_t t0 = weft_now_ns();
    weft_future *fs[PAGES];
    for (int i = 0; i < PAGES; i++)
        if (weft_pool_submit(pool, download, &pages[i], &fs[i]) != 0)
            return 1;
    int done = 0;
    int r = weft_futures_as_completed(fs, PAGES, WEFT_SEC(60), print_page, &done);
    double parallel = (double)(weft_now_ns() - t0) / 1e9;
    for (int i = 0; i < PAGES; i++)
        weft_future_release(fs[i]);
    printf("%d pages in %.3f s on %d workers (one after the other: %.3f s, %.1fx)\n", done,
           parallel, WORKERS, PAGES * DOWNLOAD_MS / 1000.0,
           PAGES * DOWNLOAD_MS / 1000.0 / parallel);

    /* In order. */
    void *args[PAGES], *results[PAGES];
    for (int i = 0; i < PAGES; i++)
        args[i] = &pages[i];
    t0 = weft_now_ns();
    int m = weft_pool_map(pool, download, args, PAGES, results, WEFT_SEC(60));
    double mapped = (double)(weft_now_ns() - t0) / 1e9;
    int in_order = m == 0;
    for (int i = 0; m == 0 && i < PAGES; i++) {
        in_order &= strcmp(((struct page *)results[i])->url, pages[i].url) == 0;
        free(results[i]);
    }
    printf("map: %d pages in order in %.3f s\n", in_order ? PAGES : 0, mapped);
    weft_pool_destroy(pool);

    /* Never faster than three rounds of downloads; no upper bound (machines vary). */
    int rounds = (PAGES + WORKERS - 1) / WORKERS;
    double least = rounds * DOWNLOAD_MS / 1000.0;
    return r == 0 && done == PAGES && in_order && parallel >= least && mapped >= least ? 0 : 1;
}
