#ifndef ORBITER_CLUA_SHIM_H
#define ORBITER_CLUA_SHIM_H
// Lua 5.4 as seen from Swift. Function-like macros and variadic functions do not import, so the
// few Orbiter needs are wrapped here as static inline functions. The allocator, panic handler,
// warning function and instruction hook are C too: they may longjmp, and a longjmp must never
// cross a Swift frame.
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

static inline int orbiter_lua_pcall(lua_State *L, int nargs, int nresults, int msgh) {
    return lua_pcallk(L, nargs, nresults, msgh, 0, NULL);
}
static inline void orbiter_lua_pop(lua_State *L, int n) { lua_settop(L, -(n)-1); }
static inline void orbiter_lua_newtable(lua_State *L) { lua_createtable(L, 0, 0); }
static inline const char *orbiter_lua_tolstring(lua_State *L, int i, size_t *len) { return lua_tolstring(L, i, len); }
static inline int orbiter_lua_isnoneornil(lua_State *L, int i) { return lua_type(L, i) <= 0; }
static inline int orbiter_lua_registryindex(void) { return LUA_REGISTRYINDEX; }
static inline int orbiter_lua_upvalueindex(int i) { return lua_upvalueindex(i); }
static inline void orbiter_lua_pushcfunction(lua_State *L, lua_CFunction f) { lua_pushcclosure(L, f, 0); }
static inline int orbiter_lua_loadbuffer(lua_State *L, const char *buf, size_t size, const char *name, const char *mode) {
    return luaL_loadbufferx(L, buf, size, name, mode);
}
static inline lua_State *orbiter_lua_tothread(lua_State *L, int i) { return lua_tothread(L, i); }
static inline int orbiter_lua_gc_count_kb(lua_State *L) { return lua_gc(L, LUA_GCCOUNT, 0); }
static inline void orbiter_lua_gc_collect(lua_State *L) { lua_gc(L, LUA_GCCOLLECT, 0); }
static inline void orbiter_lua_gc_generational(lua_State *L) { lua_gc(L, LUA_GCGEN, 0, 0); }
static inline int orbiter_lua_isinteger(lua_State *L, int i) { return lua_isinteger(L, i); }

// ---- Memory accounting and cap -------------------------------------------------------------
// `limit` 0 means no cap. While `host` is non-zero (Swift is pushing values), the cap is not
// enforced: an allocation failure there would raise a Lua error through Swift frames.
typedef struct OrbiterLuaBudget {
    size_t used;
    size_t limit;
    int host;
    // Instruction / time budget, checked by the count hook.
    long long deadline_ns;     // 0 = none; CLOCK_MONOTONIC nanoseconds
    long long instructions_left; // < 0 = unlimited
    int interrupted;           // set by the hook when it stops a call: 1 time, 2 instructions, 3 cancelled
    volatile int cancel;       // set from another thread to stop the running Lua code
} OrbiterLuaBudget;

static void *orbiter_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    OrbiterLuaBudget *b = (OrbiterLuaBudget *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        b->used -= old;
        free(ptr);
        return NULL;
    }
    if (b->limit && !b->host && nsize > old && b->used - old + nsize > b->limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (p) b->used = b->used - old + nsize;
    return p;
}

static int orbiter_lua_panic(lua_State *L) {
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "orbiter: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
    fflush(stderr);
    abort();
    return 0;
}

static void orbiter_lua_warn(void *ud, const char *msg, int tocont) {
    (void)ud; (void)tocont;
    fprintf(stderr, "%s", msg);
    if (!tocont) fputc('\n', stderr);
}

static inline long long orbiter_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define ORBITER_HOOK_EVERY 1000
static void orbiter_lua_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    OrbiterLuaBudget *b = *(OrbiterLuaBudget **)lua_getextraspace(L);
    if (!b) return;
    int why = 0;
    if (b->cancel) why = 3;
    else if (b->deadline_ns && orbiter_now_ns() > b->deadline_ns) why = 1;
    else if (b->instructions_left >= 0) {
        b->instructions_left -= ORBITER_HOOK_EVERY;
        if (b->instructions_left < 0) why = 2;
    }
    if (!why) return;
    b->interrupted = why;
    // Re-arm with count 1, so a pcall that swallows this error is stopped again at once.
    lua_sethook(L, orbiter_lua_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, why == 1 ? "time limit exceeded" : why == 2 ? "instruction limit exceeded" : "cancelled");
}

// ---- Host functions written in Swift ------------------------------------------------------
// A Swift function returns its number of results, or -1 with an error message on the stack; this
// C trampoline then raises the error (with the caller's position), so Lua's longjmp never crosses
// a Swift frame. Upvalue 1 is the Swift function, upvalue 2 its context.
static int orbiter_lua_host_trampoline(lua_State *L) {
    lua_CFunction f = (lua_CFunction)lua_touserdata(L, lua_upvalueindex(1));
    int n = f(L);
    if (n >= 0) return n;
    luaL_where(L, 1);
    lua_rotate(L, -2, 1);
    lua_concat(L, 2);
    return lua_error(L);
}

static inline void orbiter_lua_push_host_function(lua_State *L, lua_CFunction f, void *context) {
    lua_pushlightuserdata(L, (void *)f);
    lua_pushlightuserdata(L, context);
    lua_pushcclosure(L, orbiter_lua_host_trampoline, 2);
}

/// Creates a state with the counting allocator, a panic handler, a warning function, and the
/// extra space pointing at the budget (so threads created from it find it too).
static inline lua_State *orbiter_lua_newstate(OrbiterLuaBudget *budget) {
    lua_State *L = lua_newstate(orbiter_lua_alloc, budget);
    if (!L) return NULL;
    lua_atpanic(L, orbiter_lua_panic);
    lua_setwarnf(L, orbiter_lua_warn, NULL);
    *(OrbiterLuaBudget **)lua_getextraspace(L) = budget;
    return L;
}

/// The budget of the state a thread belongs to.
static inline OrbiterLuaBudget *orbiter_lua_budget(lua_State *L) { return *(OrbiterLuaBudget **)lua_getextraspace(L); }

/// Arms the budget hook on a thread (hooks are per thread).
static inline void orbiter_lua_arm_hook(lua_State *L) { lua_sethook(L, orbiter_lua_hook, LUA_MASKCOUNT, ORBITER_HOOK_EVERY); }
static inline void orbiter_lua_disarm_hook(lua_State *L) { lua_sethook(L, NULL, 0, 0); }

#endif
