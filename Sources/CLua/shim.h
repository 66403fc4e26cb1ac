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
#include <sys/prctl.h>
#include "budget.h"
#include "pattern.h"

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
/// With `accounting`, every block records the task that holds it (per-task memory caps).
static inline lua_State *orbiter_lua_newstate(OrbiterLuaBudget *budget, int accounting) {
    lua_State *L = lua_newstate(accounting ? orbiter_lua_alloc_accounted : orbiter_lua_alloc, budget);
    if (!L) return NULL;
    lua_atpanic(L, orbiter_lua_panic);
    lua_setwarnf(L, orbiter_lua_warn, NULL);
    *(OrbiterLuaBudget **)lua_getextraspace(L) = budget;
    return L;
}

/// The budget of the state a thread belongs to.
static inline OrbiterLuaBudget *orbiter_lua_budget(lua_State *L) { return *(OrbiterLuaBudget **)lua_getextraspace(L); }

/// Sets Orbiter's budgeted pattern functions (find, match, gmatch, gsub) on the table at the top.
static inline void orbiter_lua_set_pattern_functions(lua_State *L) {
    lua_pushcfunction(L, orbiter_str_find); lua_setfield(L, -2, "find");
    lua_pushcfunction(L, orbiter_str_match); lua_setfield(L, -2, "match");
    lua_pushcfunction(L, orbiter_str_gmatch); lua_setfield(L, -2, "gmatch");
    lua_pushcfunction(L, orbiter_str_gsub); lua_setfield(L, -2, "gsub");
}
static inline void orbiter_lua_set_globals(lua_State *L) { lua_rawseti(L, LUA_REGISTRYINDEX, LUA_RIDX_GLOBALS); }
static inline int orbiter_lua_ridx_globals(void) { return LUA_RIDX_GLOBALS; }
/// Names the calling OS thread (at most 15 bytes show), and reads that name back.
static inline void orbiter_set_thread_name(const char *name) { prctl(PR_SET_NAME, name, 0, 0, 0); }
static inline void orbiter_thread_name(char *buffer16) { prctl(PR_GET_NAME, buffer16, 0, 0, 0); buffer16[15] = 0; }
static inline int orbiter_lua_checkstack(lua_State *L, int n) { return lua_checkstack(L, n); }

#endif
