/* tsan.c: the library's external copies of what weft's headers inline into a
 * user's TSan-built translation unit (include/weft/common.h, WEFT__TSAN_SLOW). The
 * inline copies are always inlined, so these serve only a compiler that calls the
 * external definition anyway; the TSan entry point is weak here (src/tsan.h), as
 * the library runs with and without the TSan runtime. */
#include "tsan.h"

void __tsan_mutex_post_divert(void *addr, unsigned flags) __attribute__((weak));

WEFT_API int weft__tsan_divert_end(void *m, int r);

int weft__tsan_divert_end(void *m, int r)
{
    if (__tsan_mutex_post_divert)
        __tsan_mutex_post_divert(m, 0);
    return r;
}
