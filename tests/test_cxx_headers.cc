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
    std::puts("ok cxx_headers");
    return 0;
}
