#ifndef OPSH_CTHREADCACHE_H
#define OPSH_CTHREADCACHE_H

/* The pool's per-thread cache pointer (Sources/Pool/ThreadCache.swift) as a C thread-local
   variable: Swift has no thread-locals of its own, and pthread_getspecific is a call and a
   lookup on every checkout and return, where a thread-local is one load from the thread
   pointer. The accessors are inline so Swift's compiler can inline the load itself. */
extern _Thread_local void *opsh_thread_cache;

static inline void *opsh_thread_cache_get(void) { return opsh_thread_cache; }
static inline void opsh_thread_cache_set(void *p) { opsh_thread_cache = p; }

#endif
