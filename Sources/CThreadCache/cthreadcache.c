#include "cthreadcache.h"

_Thread_local void *opsh_thread_cache = 0;
