/*
 * lk_shim: the C side of opsh's Lua/Swift border.
 *
 * The one rule (docs/ARCHITECTURE.md §2): no Lua error, yield or longjmp ever crosses a
 * Swift frame. Swift functions exposed to Lua return a status; the trampolines
 * here raise or yield after the Swift frame has returned. Everything that may
 * raise runs either in these trampolines or under lua_pcall.
 */
#ifndef LK_SHIM_H
#define LK_SHIM_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stddef.h>
#include <stdint.h>

/* ---- status codes a Swift function returns (n >= 0 means n results) ---- */
#define LK_STATUS_ERROR (-1)            /* error object on top of the stack */
#define LK_STATUS_YIELD (-2)            /* a native wait was registered: suspend the task */
#define LK_STATUS_ARGERROR_BASE (-1000) /* -1000-k: luaL_argerror(k, message on top) */
#define LK_STATUS_TYPEERROR_BASE (-2000)/* -2000-k: luaL_typeerror(k, type name on top) */

typedef int (*lk_SwiftFunction)(lua_State *L);
/* Closure boxes: one dispatcher (registered by Swift) calls the boxed closure. */
typedef int (*lk_ClosureDispatch)(lua_State *L, void *box);
typedef void (*lk_BoxRelease)(void *box);
/* Continuation of a native wait: called when the suspended thread is resumed. */
typedef int (*lk_ContinuationDispatch)(lua_State *L);

/* ---- why a script is being stopped ---- */
#define LK_STOP_NONE 0
#define LK_STOP_TIMEOUT 1
#define LK_STOP_INTERRUPT 2
#define LK_STOP_EXIT 3

#define LK_CHAIN_MAX 256

/* Per-VM state; its address is the allocator's ud and sits in every thread's extra space. */
typedef struct lk_vmstate {
    size_t used;          /* bytes the Lua heap holds now */
    size_t peak;
    size_t limit;         /* 0: no limit */
    int native_depth;     /* > 0 while a Swift frame is active: allocations are never refused */
    int over_limit;       /* an allocation under a Swift frame crossed the limit */
    int memory_refused;   /* at least one allocation was refused for the limit */
    int dry_run;          /* --dry-run: native modules read this */
    lua_State *main;
    void *host;           /* the Swift LuaVM (unretained) */
    lua_State *native_pending; /* thread that just yielded for a native wait */
    int chain_depth;      /* threads being resumed, innermost last */
    lua_State *chain[LK_CHAIN_MAX];
    unsigned char chain_is_task[LK_CHAIN_MAX];
} lk_vmstate;

/* ---- macro replacements (Swift cannot import function-like macros) ---- */
static inline int lk_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int lk_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void lk_pop(lua_State *L, int n) { lua_settop(L, -(n) - 1); }
static inline void lk_newtable(lua_State *L) { lua_createtable(L, 0, 0); }
static inline void lk_insert(lua_State *L, int idx) { lua_rotate(L, idx, 1); }
static inline void lk_remove(lua_State *L, int idx) { lua_rotate(L, idx, -1); lua_settop(L, -2); }
static inline void lk_replace(lua_State *L, int idx) { lua_copy(L, -1, idx); lua_settop(L, -2); }
static inline int lk_isnoneornil(lua_State *L, int idx) { return lua_type(L, idx) <= 0; }
static inline lua_Integer lk_tointeger(lua_State *L, int idx, int *isnum) { return lua_tointegerx(L, idx, isnum); }
static inline lua_Number lk_tonumber(lua_State *L, int idx, int *isnum) { return lua_tonumberx(L, idx, isnum); }
static inline void *lk_newuserdata(lua_State *L, size_t size, int nuv) { return lua_newuserdatauv(L, size, nuv); }
static inline lk_vmstate *lk_state(lua_State *L) { return *(lk_vmstate **)lua_getextraspace(L); }
/* The registry has no metatable, so this cannot raise. */
static inline int lk_getmetatable(lua_State *L, const char *name) { return lua_getfield(L, LUA_REGISTRYINDEX, name); }
static inline const char *lk_release(void) { return LUA_RELEASE; }
static inline int lk_isyieldable(lua_State *L) { return lua_isyieldable(L); }
/* Whether the value at idx has a __tostring metamethod (raw lookups: cannot raise but for memory,
 * which is never refused while a Swift frame is active). */
static inline int lk_hastostring(lua_State *L, int idx) {
    int t = luaL_getmetafield(L, idx, "__tostring");
    if (t != LUA_TNIL) lua_pop(L, 1);
    return t != LUA_TNIL;
}

/* Stops the collector and returns whether it was running (lua_gc is variadic). While it is
 * stopped no finalizer can run, so a traversal with lua_next from Swift cannot meet a table
 * changed under it ("invalid key to 'next'" is lua_next's only error). */
static inline int lk_gcstop(lua_State *L) {
    int running = lua_gc(L, LUA_GCISRUNNING);
    if (running) lua_gc(L, LUA_GCSTOP);
    return running;
}
static inline void lk_gcrestore(lua_State *L, int running) { if (running) lua_gc(L, LUA_GCRESTART); }

/* ---- state creation ---- */
/* A new state with opsh's counting allocator and panic handler; NULL if out of memory. */
lua_State *lk_newstate(lk_vmstate *st);
/* Opens the standard libraries and installs opsh's coroutine.resume/wrap, pcall/xpcall and os.exit. Protected. */
int lk_openlibs(lua_State *L);

/* ---- pushing Swift functions ---- */
/* Pushes f as a Lua function; the nup values on top become its upvalues 2..nup+1. */
void lk_pushswiftfunction(lua_State *L, lk_SwiftFunction f, int nup);
/* Pushes a closure box (retained by the caller's +1, released once through lk_BoxRelease by __gc). */
void lk_pushclosure(lua_State *L, void *box);
void lk_setdispatchers(lk_ClosureDispatch closure, lk_BoxRelease release, lk_ContinuationDispatch continuation);
/* The C functions behind Lua functions that Swift pushes, for the benchmark that compares them. */
int lk_plain_addone(lua_State *L);

/* ---- protected calls from Swift (errors stay inside; native_depth is 0 while Lua runs) ---- */
int lk_pcall(lua_State *L, int nargs, int nresults, int msgh);
/* Resume co from Swift: keeps the resume chain, arms the stop hook, consumes native yields.
 * *native is set to 1 when co yielded for a native wait. */
int lk_resume(lua_State *co, lua_State *from, int nargs, int *nresults, int is_task, int *native);
/* The traceback message handler (lua.c's msghandler, honouring __tostring). An error that
 * passed through lk_msghandler_keep gets the traceback recorded at its origin. */
int lk_msghandler(lua_State *L);
/* For protected calls made by native code: records the traceback at the error's origin
 * and returns the error value unchanged, so it can be re-raised as it was. */
int lk_msghandler_keep(lua_State *L);
/* Runs f(L) under lua_pcall with the nargs values on top as arguments. */
int lk_pcallf(lua_State *L, lua_CFunction f, int nargs, int nresults);

/* Protected helpers: each returns a Lua status; results are on the stack on LUA_OK, the error otherwise. */
int lk_pgettable(lua_State *L, int idx);     /* t[k] with k on top: replaces k with the value */
int lk_pgetfield(lua_State *L, int idx, const char *k);
int lk_psettable(lua_State *L, int idx);     /* t[k] = v with k, v on top */
int lk_ptolstring(lua_State *L, int idx);    /* luaL_tolstring: pushes the string */
int lk_prequire(lua_State *L, const char *name); /* require(name): pushes the module */
int lk_ptraceback(lua_State *L, lua_State *co, int level); /* message on top -> traceback */
/* Error value and traceback text on top (popped): the outermost message handler gives this
 * traceback to this error value (a task's error re-raised by the task that waited for it). */
int lk_pkeeptraceback(lua_State *L);
/* Pushes the traceback kept for the error value at idx and returns 1, or returns 0. */
int lk_keptraceback(lua_State *L, int idx);
/* "source:line" of the innermost Lua function on co's stack (a failed coroutine keeps its
 * stack): written to buf, 1 if found. */
int lk_where(lua_State *co, char *buf, size_t size);

/* ---- native waits ---- */
/* Whether a native call made by L now may suspend L's task (every thread in the resume
 * chain down to a task is yieldable). */
int lk_can_suspend(lua_State *L);
/* The task that owns the running thread L, or NULL outside a task. */
lua_State *lk_current_task(lua_State *L);

/* ---- limits: timeout, Ctrl-C, os.exit, memory ---- */
/* The VM the process-wide stop machinery acts on (signal handler, watchdog); call it on the
 * thread that runs the VM. */
void lk_set_active(lk_vmstate *st, int wake_fd);
/* The VM is closing (before lua_close): stops requested from now on arm nothing in it. */
void lk_clear_active(lk_vmstate *st);
/* Async-signal-safe, from any thread: records the reason (the first one wins), arms the stop hook
 * on the running thread and main thread (on the VM's thread: from another thread, through a
 * signal to it), wakes the loop. */
void lk_request_stop(int reason);
int lk_stop_reason(void);
int lk_exit_code(void);
/* Clears a stop (the REPL after an interrupted statement). */
void lk_clear_stop(void);
/* The value stop errors are raised with (a light userdata). */
void lk_pushstopsentinel(lua_State *L);
int lk_isstopsentinel(lua_State *L, int idx);
/* SIGINT: the first Ctrl-C stops the script; another within the grace period ends the process (exit 3). */
void lk_install_sigint(int exit_on_second);
void lk_restore_sigint(void);
/* A watchdog thread: at timeout_ms it requests LK_STOP_TIMEOUT, and grace_ms later it ends the
 * process with exit code 3 if it is still running (a loop that removed the hook, a stuck call).
 * A stop requested otherwise (Ctrl-C) starts the same grace period. */
int lk_watchdog_start(long timeout_ms, long grace_ms);
void lk_watchdog_stop(void);
/* Memory limit, enforced by the allocator (0: none). */
void lk_set_memory_limit(lk_vmstate *st, size_t bytes);

#endif
