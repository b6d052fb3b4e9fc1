#define _GNU_SOURCE
#include "lk_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ======================================================================
 * Allocator: counts the Lua heap and enforces --max-memory without ever
 * refusing an allocation while a Swift frame is active.
 * ==================================================================== */

static void *lk_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    lk_vmstate *st = (lk_vmstate *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        st->used -= old;
        if (st->over_limit && st->limit && st->used <= st->limit) st->over_limit = 0;
        return NULL;
    }
    if (st->limit && nsize > old) {
        size_t after = st->used - old + nsize;
        if (after > st->limit) {
            if (st->native_depth > 0) {
                st->over_limit = 1; /* counted; the next Lua allocation fails */
            } else {
                st->memory_refused = 1;
                return NULL;
            }
        } else if (st->over_limit && st->native_depth == 0) {
            st->memory_refused = 1;
            st->over_limit = 0;
            return NULL;
        }
    }
    void *p = realloc(ptr, nsize);
    if (p == NULL) return NULL;
    st->used = st->used - old + nsize;
    if (st->used > st->peak) st->peak = st->used;
    return p;
}

static int lk_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "opsh: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
    fflush(stderr);
    _exit(3);
    return 0;
}

lua_State *lk_newstate(lk_vmstate *st) {
    lua_State *L = lua_newstate(lk_alloc, st);
    if (L == NULL) return NULL;
    lua_atpanic(L, lk_panic);
    *(lk_vmstate **)lua_getextraspace(L) = st; /* new threads copy the main thread's extra space */
    st->main = L;
    st->native_depth = 1; /* the host itself is a Swift frame */
    return L;
}

void lk_set_memory_limit(lk_vmstate *st, size_t bytes) { st->limit = bytes; }

/* ======================================================================
 * Stop machinery: timeout, Ctrl-C, os.exit.
 * Process-wide, because signals and the watchdog are.
 * ==================================================================== */

static volatile sig_atomic_t g_stop_reason = LK_STOP_NONE;
static volatile sig_atomic_t g_exit_code = 0;
static lk_vmstate *volatile g_active = NULL;
static volatile int g_wake_fd = -1;
static pthread_t g_vm_thread;            /* the thread that runs the active VM */
static char g_stop_sentinel; /* its address is the stop error value */

/* The stop hook is armed only on the VM's own thread: lua_sethook on a state that another thread
 * is running races with it (the coroutine on top of the resume chain may be finished and freed,
 * and setting the hook walks the CallInfo list the VM is changing). A stop requested elsewhere
 * (the watchdog, a SIGINT delivered to a worker thread) sends this signal to the VM's thread,
 * whose handler arms the hook there, as lua.c's SIGINT handler does. */
#define LK_ARM_SIGNAL (SIGRTMIN + 1)

static void lk_arm_signal(int sig);

void lk_set_active(lk_vmstate *st, int wake_fd) {
    static int installed = 0;
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = lk_arm_signal;
        sa.sa_flags = SA_RESTART;
        sigfillset(&sa.sa_mask);
        sigaction(LK_ARM_SIGNAL, &sa, NULL);
        installed = 1;
    }
    g_vm_thread = pthread_self();
    g_wake_fd = wake_fd;
    __atomic_store_n(&g_active, st, __ATOMIC_SEQ_CST);
}

void lk_clear_active(lk_vmstate *st) {
    /* on the VM's thread, before lua_close: a stop arriving later arms nothing */
    lk_vmstate *expected = st;
    __atomic_compare_exchange_n(&g_active, &expected, NULL, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    if (expected == st) g_wake_fd = -1;
}

int lk_stop_reason(void) { return g_stop_reason; }
int lk_exit_code(void) { return g_exit_code; }

void lk_pushstopsentinel(lua_State *L) { lua_pushlightuserdata(L, &g_stop_sentinel); }
int lk_isstopsentinel(lua_State *L, int idx) {
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == &g_stop_sentinel;
}

static void lk_stop_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    if (g_stop_reason == LK_STOP_NONE) { /* a cleared stop (REPL) */
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    /* Stay armed, more cheaply, so a loop that catches the error is stopped again. */
    lua_sethook(L, lk_stop_hook, LUA_MASKCOUNT, 1000);
    lua_pushlightuserdata(L, &g_stop_sentinel);
    lua_error(L);
}

static void lk_arm(lua_State *L) {
    if (L) lua_sethook(L, lk_stop_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

/* On the VM's thread only: the innermost thread being resumed and the main thread. */
static void lk_arm_active(void) {
    lk_vmstate *st = __atomic_load_n(&g_active, __ATOMIC_SEQ_CST);
    if (!st || g_stop_reason == LK_STOP_NONE) return;
    int d = st->chain_depth;
    if (d > 0 && d <= LK_CHAIN_MAX) lk_arm(st->chain[d - 1]);
    lk_arm(st->main);
}

static void lk_arm_signal(int sig) {
    (void)sig;
    int saved = errno;
    lk_arm_active();
    errno = saved;
}

static void lk_watchdog_notify(void);

void lk_request_stop(int reason) {
    sig_atomic_t none = LK_STOP_NONE;
    __atomic_compare_exchange_n(&g_stop_reason, &none, reason, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&g_active, __ATOMIC_SEQ_CST)) {
        if (pthread_equal(pthread_self(), g_vm_thread)) lk_arm_active();
        else pthread_kill(g_vm_thread, LK_ARM_SIGNAL);
    }
    int fd = g_wake_fd;
    if (fd >= 0) {
        uint64_t one = 1;
        ssize_t w = write(fd, &one, sizeof one);
        (void)w;
    }
    if (reason != LK_STOP_EXIT) lk_watchdog_notify();
}

void lk_clear_stop(void) { __atomic_store_n(&g_stop_reason, LK_STOP_NONE, __ATOMIC_SEQ_CST); }

/* ---- SIGINT ---- */
static struct sigaction g_old_sigint;
static volatile sig_atomic_t g_exit_on_second = 1;

static void lk_sigint(int sig) {
    (void)sig;
    if (g_stop_reason == LK_STOP_INTERRUPT && g_exit_on_second) {
        static const char msg[] = "\nopsh: interrupted twice, exiting\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(3);
    }
    lk_request_stop(LK_STOP_INTERRUPT);
}

void lk_install_sigint(int exit_on_second) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = lk_sigint;
    sigemptyset(&sa.sa_mask);
    g_exit_on_second = exit_on_second;
    sigaction(SIGINT, &sa, &g_old_sigint);
}

void lk_restore_sigint(void) { sigaction(SIGINT, &g_old_sigint, NULL); }

/* ---- watchdog thread ---- */
static pthread_t g_watchdog;
static int g_watchdog_running = 0;
static long g_timeout_ms = 0, g_grace_ms = 2000;
static int g_wd_pipe[2] = {-1, -1};

static void lk_watchdog_notify(void) {
    if (g_wd_pipe[1] >= 0) {
        char c = 's';
        ssize_t w = write(g_wd_pipe[1], &c, 1);
        (void)w;
    }
}

static long lk_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

#include <poll.h>
static void *lk_watchdog_main(void *arg) {
    (void)arg;
    long start = lk_now_ms();
    long stop_at = g_timeout_ms > 0 ? start + g_timeout_ms : -1;
    long kill_at = -1;
    for (;;) {
        long now = lk_now_ms();
        long wait = -1;
        if (kill_at >= 0) wait = kill_at - now;
        else if (stop_at >= 0) wait = stop_at - now;
        if (wait < 0 && (kill_at >= 0 || stop_at >= 0)) wait = 0;
        struct pollfd p = { .fd = g_wd_pipe[0], .events = POLLIN };
        int r = poll(&p, 1, (int)(wait > 2000000000L ? 2000000000L : wait));
        if (r > 0) {
            char buf[16];
            ssize_t n = read(g_wd_pipe[0], buf, sizeof buf);
            if (n <= 0) return NULL;
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == 'q') return NULL;        /* lk_watchdog_stop */
            }
            if (kill_at < 0 && g_stop_reason != LK_STOP_NONE) kill_at = lk_now_ms() + g_grace_ms;
            continue;
        }
        now = lk_now_ms();
        if (kill_at >= 0 && now >= kill_at) {
            const char *why = g_stop_reason == LK_STOP_INTERRUPT ? "interrupted" : "timed out";
            char msg[200];
            int len = snprintf(msg, sizeof msg,
                               "opsh: %s, and the script did not stop within %ld ms of being told; exiting\n",
                               why, g_grace_ms);
            ssize_t w = write(2, msg, (size_t)len);
            (void)w;
            _exit(3);
        }
        if (stop_at >= 0 && now >= stop_at && kill_at < 0) {
            stop_at = -1;
            lk_request_stop(LK_STOP_TIMEOUT);   /* keeps an earlier reason (Ctrl-C) */
            kill_at = lk_now_ms() + g_grace_ms;
        }
    }
}

int lk_watchdog_start(long timeout_ms, long grace_ms) {
    if (g_watchdog_running) return 0;
    if (pipe2(g_wd_pipe, O_CLOEXEC) != 0) return -1;
    g_timeout_ms = timeout_ms;
    g_grace_ms = grace_ms;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals stay with the main thread */
    int rc = pthread_create(&g_watchdog, NULL, lk_watchdog_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) return -1;
    g_watchdog_running = 1;
    return 0;
}

void lk_watchdog_stop(void) {
    if (!g_watchdog_running) return;
    char c = 'q';
    ssize_t w = write(g_wd_pipe[1], &c, 1);
    (void)w;
    pthread_join(g_watchdog, NULL);
    close(g_wd_pipe[0]);
    close(g_wd_pipe[1]);
    g_wd_pipe[0] = g_wd_pipe[1] = -1;
    g_watchdog_running = 0;
}

/* ======================================================================
 * Trampolines: the only place where a Swift function's status is turned
 * into a Lua error or yield.
 * ==================================================================== */

static lk_ClosureDispatch g_closure_dispatch = NULL;
static lk_BoxRelease g_box_release = NULL;
static lk_ContinuationDispatch g_cont_dispatch = NULL;

void lk_setdispatchers(lk_ClosureDispatch closure, lk_BoxRelease release, lk_ContinuationDispatch continuation) {
    g_closure_dispatch = closure;
    g_box_release = release;
    g_cont_dispatch = continuation;
}

static int lk_continue(lua_State *L, int status, lua_KContext ctx);

static int lk_finish(lua_State *L, int n) {
    if (n >= 0) return n;
    if (n == LK_STATUS_ERROR) return lua_error(L);
    if (n == LK_STATUS_YIELD) {
        lk_state(L)->native_pending = L;
        return lua_yieldk(L, 0, 0, lk_continue);
    }
    if (n <= LK_STATUS_TYPEERROR_BASE) {
        int arg = LK_STATUS_TYPEERROR_BASE - n;
        /* the expected type's name leaves the stack first: pushed past the last argument, it
         * would be the missing argument luaL_typeerror describes ("got string", not "got no value") */
        char expected[64];
        const char *t = lua_tostring(L, -1);
        snprintf(expected, sizeof expected, "%s", t ? t : "?");
        lua_pop(L, 1);
        return luaL_typeerror(L, arg, expected);
    }
    if (n <= LK_STATUS_ARGERROR_BASE) {
        int arg = LK_STATUS_ARGERROR_BASE - n;
        return luaL_argerror(L, arg, lua_tostring(L, -1));
    }
    return luaL_error(L, "invalid status %d from a native function", n);
}

static int lk_continue(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    (void)ctx;
    lk_vmstate *st = lk_state(L);
    st->native_depth++;
    int n = g_cont_dispatch(L);
    st->native_depth--;
    return lk_finish(L, n);
}

static int lk_trampoline(lua_State *L) {
    lk_SwiftFunction f = (lk_SwiftFunction)lua_touserdata(L, lua_upvalueindex(1));
    lk_vmstate *st = lk_state(L);
    st->native_depth++;
    int n = f(L);
    st->native_depth--;
    return n >= 0 ? n : lk_finish(L, n);
}

static int lk_closure_trampoline(lua_State *L) {
    void **slot = (void **)lua_touserdata(L, lua_upvalueindex(1));
    lk_vmstate *st = lk_state(L);
    st->native_depth++;
    int n = g_closure_dispatch(L, *slot);
    st->native_depth--;
    return n >= 0 ? n : lk_finish(L, n);
}

void lk_pushswiftfunction(lua_State *L, lk_SwiftFunction f, int nup) {
    lua_pushlightuserdata(L, (void *)f);
    if (nup > 0) lua_rotate(L, -(nup + 1), 1);
    lua_pushcclosure(L, lk_trampoline, nup + 1);
}

static int lk_box_gc(lua_State *L) {
    void **slot = (void **)lua_touserdata(L, 1);
    if (slot && *slot) {
        void *box = *slot;
        *slot = NULL;
        g_box_release(box);
    }
    return 0;
}

void lk_pushclosure(lua_State *L, void *box) {
    void **slot = (void **)lua_newuserdatauv(L, sizeof(void *), 0);
    *slot = box;
    if (luaL_newmetatable(L, "opsh.closurebox")) {
        lua_pushcfunction(L, lk_box_gc);
        lua_setfield(L, -2, "__gc"); /* fresh table without metatable: cannot raise but for memory */
    }
    lua_setmetatable(L, -2);
    lua_pushcclosure(L, lk_closure_trampoline, 1);
}

int lk_plain_addone(lua_State *L) {
    lua_Integer i = luaL_checkinteger(L, 1);
    lua_pushinteger(L, i + 1);
    return 1;
}

/* ======================================================================
 * Protected calls and helpers.
 * ==================================================================== */

int lk_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    lk_vmstate *st = lk_state(L);
    int saved = st->native_depth;
    st->native_depth = 0;
    int status = lua_pcall(L, nargs, nresults, msgh);
    st->native_depth = saved;
    return status;
}

int lk_pcallf(lua_State *L, lua_CFunction f, int nargs, int nresults) {
    lua_pushcfunction(L, f);
    lua_rotate(L, -(nargs + 1), 1);
    return lk_pcall(L, nargs, nresults, 0);
}

int lk_resume(lua_State *co, lua_State *from, int nargs, int *nresults, int is_task, int *native) {
    lk_vmstate *st = lk_state(co);
    if (st->chain_depth >= LK_CHAIN_MAX) {
        lua_pushliteral(co, "too many nested coroutines");
        *nresults = 1;
        return LUA_ERRRUN;
    }
    st->chain[st->chain_depth] = co;
    st->chain_is_task[st->chain_depth] = (unsigned char)is_task;
    st->chain_depth++;
    if (g_stop_reason != LK_STOP_NONE) lk_arm(co);
    int saved = st->native_depth;
    st->native_depth = 0;
    int status = lua_resume(co, from, nargs, nresults);
    st->native_depth = saved;
    st->chain_depth--;
    *native = 0;
    if (status == LUA_YIELD && st->native_pending == co) {
        st->native_pending = NULL;
        *native = 1;
    }
    return status;
}

static const char lk_tb_err_key = 'e';
static const char lk_tb_text_key = 't';

int lk_msghandler_keep(lua_State *L) {
    if (lk_isstopsentinel(L, 1)) return 1;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lk_tb_err_key);
    int known = lua_rawequal(L, -1, 1);
    lua_pop(L, 1);
    if (known) return 1; /* already recorded deeper down */
    lua_pushvalue(L, 1);
    lk_msghandler(L);     /* traceback text of this point, on top */
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lk_tb_text_key);
    lua_pushvalue(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lk_tb_err_key);
    lua_settop(L, 1);
    return 1;
}

int lk_msghandler(lua_State *L) {
    if (lk_isstopsentinel(L, 1)) return 1;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lk_tb_err_key);
    if (lua_type(L, -1) != LUA_TNIL && lua_rawequal(L, -1, 1)) {
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &lk_tb_err_key);
        lua_rawgetp(L, LUA_REGISTRYINDEX, &lk_tb_text_key);
        lua_pushnil(L);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &lk_tb_text_key);
        return 1;
    }
    lua_pop(L, 1);
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
            msg = lua_tostring(L, -1);
        } else {
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        }
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int lk_keeptraceback_f(lua_State *L) {
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lk_tb_text_key);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &lk_tb_err_key);
    return 0;
}
int lk_pkeeptraceback(lua_State *L) { return lk_pcallf(L, lk_keeptraceback_f, 2, 0); }

int lk_keptraceback(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lk_tb_err_key);
    int known = lua_type(L, -1) != LUA_TNIL && lua_rawequal(L, -1, idx);
    lua_pop(L, 1);
    if (!known) return 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &lk_tb_text_key);
    return 1;
}

int lk_where(lua_State *co, char *buf, size_t size) {
    lua_Debug ar;
    for (int level = 0; lua_getstack(co, level, &ar); level++) {
        if (lua_getinfo(co, "Sl", &ar) && ar.currentline > 0) {
            snprintf(buf, size, "%s:%d", ar.short_src, ar.currentline);
            return 1;
        }
    }
    return 0;
}

static int lk_gettable_f(lua_State *L) { lua_gettable(L, 1); return 1; }
int lk_pgettable(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    lua_rotate(L, -2, 1); /* t k */
    return lk_pcallf(L, lk_gettable_f, 2, 1);
}

static int lk_getfield_f(lua_State *L) {
    lua_getfield(L, 1, lua_tostring(L, 2));
    return 1;
}
int lk_pgetfield(lua_State *L, int idx, const char *k) {
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    lua_pushstring(L, k);
    return lk_pcallf(L, lk_getfield_f, 2, 1);
}

static int lk_settable_f(lua_State *L) { lua_settable(L, 1); return 0; }
int lk_psettable(lua_State *L, int idx) {
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    lua_rotate(L, -3, 1); /* t k v */
    return lk_pcallf(L, lk_settable_f, 3, 0);
}

static int lk_tolstring_f(lua_State *L) { luaL_tolstring(L, 1, NULL); return 1; }
int lk_ptolstring(lua_State *L, int idx) {
    lua_pushvalue(L, idx);
    return lk_pcallf(L, lk_tolstring_f, 1, 1);
}

static int lk_require_f(lua_State *L) {
    lua_getglobal(L, "require");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    return 1;
}
int lk_prequire(lua_State *L, const char *name) {
    lua_pushstring(L, name);
    lua_pushcfunction(L, lk_require_f);
    lua_rotate(L, -2, 1);
    lua_pushcfunction(L, lk_msghandler);
    lua_rotate(L, -3, 1); /* h f name */
    int h = lua_gettop(L) - 2;
    int status = lk_pcall(L, 1, 1, h);
    lua_rotate(L, h, -1);
    lua_settop(L, -2);
    return status;
}

static int lk_traceback_f(lua_State *L) {
    lua_State *co = (lua_State *)lua_touserdata(L, 2);
    luaL_traceback(L, co, lua_tostring(L, 1), (int)lua_tointeger(L, 3));
    return 1;
}
int lk_ptraceback(lua_State *L, lua_State *co, int level) {
    lua_pushlightuserdata(L, co);
    lua_pushinteger(L, level);
    return lk_pcallf(L, lk_traceback_f, 3, 1);
}

/* ======================================================================
 * Native waits: who may suspend.
 * ==================================================================== */

int lk_can_suspend(lua_State *L) {
    lk_vmstate *st = lk_state(L);
    int d = st->chain_depth;
    if (d == 0 || st->chain[d - 1] != L) return 0;
    for (int i = d - 1; i >= 0; i--) {
        if (!lua_isyieldable(st->chain[i])) return 0;
        if (st->chain_is_task[i]) return 1;
    }
    return 0;
}

lua_State *lk_current_task(lua_State *L) {
    lk_vmstate *st = lk_state(L);
    for (int i = st->chain_depth - 1; i >= 0; i--) {
        if (st->chain_is_task[i]) return st->chain[i];
    }
    return NULL;
}

/* ======================================================================
 * Standard library replacements: coroutine.resume/wrap (native waits
 * propagate to the task; the stop hook follows the running thread),
 * pcall/xpcall (a stop cannot be swallowed), os.exit (closes the state).
 * Everything else behaves as in lua5.4.
 * ==================================================================== */

static int lk_resume_k(lua_State *L, int status, lua_KContext ctx);

/* Resumes co with narg arguments already moved onto it; returns the count of results moved to L or -1 on error (message moved to L). */
static int lk_auxresume(lua_State *L, lua_State *co, int narg) {
    for (;;) {
        int nres = 0, native = 0;
        int status = lk_resume(co, L, narg, &nres, 0, &native);
        if (status == LUA_YIELD && native) {
            /* a native wait in co: L suspends too, up to the task; the task's resumption resumes co */
            lk_vmstate *st = lk_state(L);
            st->native_pending = L;
            lua_yieldk(L, 0, (lua_KContext)co, lk_resume_k);
            /* not reached */
        }
        if (status == LUA_OK || status == LUA_YIELD) {
            if (!lua_checkstack(L, nres + 1)) {
                lua_pop(co, nres);
                lua_pushliteral(L, "too many results to resume");
                return -1;
            }
            lua_xmove(co, L, nres);
            return nres;
        }
        lua_xmove(co, L, 1);
        return -1;
    }
}

static int lk_co_checkstatus(lua_State *L, lua_State *co, int narg) {
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return 0;
    }
    int st = lua_status(co);
    if (st == LUA_OK && lua_gettop(co) == 0) {
        lua_pushliteral(L, "cannot resume dead coroutine");
        return 0;
    }
    if (st != LUA_OK && st != LUA_YIELD) {
        lua_pushliteral(L, "cannot resume dead coroutine");
        return 0;
    }
    if (co == L) {
        lua_pushliteral(L, "cannot resume non-suspended coroutine");
        return 0;
    }
    if (st == LUA_OK) {
        lua_Debug ar;
        if (lua_getstack(co, 0, &ar)) { /* running or normal */
            lua_pushliteral(L, "cannot resume non-suspended coroutine");
            return 0;
        }
    }
    return 1;
}

/* mode 0: coroutine.resume (true, ... / false, err); mode 1: wrap (values / raise) */
static int lk_resume_finish(lua_State *L, lua_State *co, int r, int mode) {
    if (r < 0) {
        if (g_stop_reason != LK_STOP_NONE) {
            lua_pushlightuserdata(L, &g_stop_sentinel);
            return lua_error(L);
        }
        if (mode == 1) {
            int stat = lua_status(co);
            if (stat != LUA_OK && stat != LUA_YIELD) {
                stat = lua_resetthread(co); /* close its to-be-closed variables */
                lua_xmove(co, L, 1);
            }
            if (stat != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
                luaL_where(L, 1);
                lua_insert(L, -2);
                lua_concat(L, 2);
            }
            return lua_error(L);
        }
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    if (mode == 1) return r;
    lua_pushboolean(L, 1);
    lua_insert(L, -(r + 1));
    return r + 1;
}

static int lk_resume_k(lua_State *L, int status, lua_KContext ctx) {
    (void)status;
    lua_State *co = (lua_State *)ctx;
    /* whether this is resume or wrap is recorded at stack index 1 of the frame (see below) */
    int mode = (int)lua_tointeger(L, lua_upvalueindex(1));
    int r = lk_auxresume(L, co, 0);
    return lk_resume_finish(L, co, r, mode);
}

static int lk_co_resume(lua_State *L) {
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int narg = lua_gettop(L) - 1;
    if (!lk_co_checkstatus(L, co, narg)) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    lua_xmove(L, co, narg);
    int r = lk_auxresume(L, co, narg);
    return lk_resume_finish(L, co, r, 0);
}

static int lk_co_wrapped(lua_State *L) {
    lua_State *co = lua_tothread(L, lua_upvalueindex(2));
    int narg = lua_gettop(L);
    if (!lk_co_checkstatus(L, co, narg)) {
        if (lua_type(L, -1) == LUA_TSTRING) {
            luaL_where(L, 1);
            lua_insert(L, -2);
            lua_concat(L, 2);
        }
        return lua_error(L);
    }
    lua_xmove(L, co, narg);
    int r = lk_auxresume(L, co, narg);
    return lk_resume_finish(L, co, r, 1);
}

static int lk_co_wrap(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *NL = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, NL, 1);
    lua_pushinteger(L, 1);      /* upvalue 1: mode (wrap) */
    lua_insert(L, -2);          /* mode, thread */
    lua_pushcclosure(L, lk_co_wrapped, 2);
    return 1;
}

/* pcall/xpcall: a stop is not an error a script may catch */
static int lk_pcall_finish(lua_State *L, int status, lua_KContext extra) {
    if (status != LUA_OK && status != LUA_YIELD) {
        if (g_stop_reason != LK_STOP_NONE) {
            lua_pushlightuserdata(L, &g_stop_sentinel);
            return lua_error(L);
        }
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - (int)extra;
}

static int lk_pcall_k(lua_State *L, int status, lua_KContext extra) {
    return lk_pcall_finish(L, status, extra);
}

static int lk_luapcall(lua_State *L) {
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, lk_pcall_k);
    return lk_pcall_finish(L, status, 0);
}

static int lk_luaxpcall(lua_State *L) {
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, lk_pcall_k);
    return lk_pcall_finish(L, status, 2);
}

static int lk_os_exit(lua_State *L) {
    int code;
    if (lua_isboolean(L, 1)) code = lua_toboolean(L, 1) ? EXIT_SUCCESS : EXIT_FAILURE;
    else code = (int)luaL_optinteger(L, 1, EXIT_SUCCESS);
    g_exit_code = code;
    g_stop_reason = LK_STOP_EXIT;
    /* Unwind with the stop value: <close> handlers run on the way, finalizers at lua_close. */
    lua_pushlightuserdata(L, &g_stop_sentinel);
    return lua_error(L);
}

static int lk_openlibs_f(lua_State *L) {
    luaL_openlibs(L);
    lua_getglobal(L, "coroutine");
    lua_pushcfunction(L, lk_co_resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, lk_co_wrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
    lua_pushcfunction(L, lk_luapcall);
    lua_setglobal(L, "pcall");
    lua_pushcfunction(L, lk_luaxpcall);
    lua_setglobal(L, "xpcall");
    lua_getglobal(L, "os");
    lua_pushcfunction(L, lk_os_exit);
    lua_setfield(L, -2, "exit");
    lua_pop(L, 1);
    return 0;
}

int lk_openlibs(lua_State *L) { return lk_pcallf(L, lk_openlibs_f, 0, 0); }
