/* Version and backend, as the library was built: the headers a caller compiled
 * against may be older or newer (see weft/version.h). WF_BACKEND_NAME comes from
 * the build, which picks the wait layer; nothing else in the library reads it. */
#include "internal.h"

#ifndef WF_BACKEND_NAME
#error "the build defines WF_BACKEND_NAME (the wait backend: linux or portable)"
#endif

const char *weft_version(void)
{
    return WEFT_VERSION;
}

const char *weft_backend(void)
{
    return WF_BACKEND_NAME;
}
