#ifndef ORBITER_CLUA_BUDGET_H
#define ORBITER_CLUA_BUDGET_H
// The limits of a Lua state and of the call running in it: memory (per state and per task),
// wall clock, instructions, cancellation and preemption. Everything that enforces them is C:
// an allocator refusal, a count hook and the pattern matcher raise Lua errors by longjmp, which
// must never cross a Swift frame.
#include <lua.h>
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

/// The memory one task holds in a state that several tasks share. Every block of an accounting
/// state carries its owner in a header, so a free credits the task that allocated the block —
/// not whichever task happens to run the collector. Shared by the blocks it owns and by Swift:
/// freed when the last of them lets go.
typedef struct OrbiterLuaAccount {
    long long used;            // touched only on the state's thread
    int refs;                  // atomic: one per block owned, plus one for Swift
} OrbiterLuaAccount;

typedef struct OrbiterLuaBudget {
    // ---- Memory -------------------------------------------------------------------------------
    size_t used;               // bytes the state holds now
    size_t limit;              // cap of the whole state; 0 = none
    int host;                  // > 0 while Swift pushes values: no refusal there (Swift checks room first)
    OrbiterLuaAccount *account; // the running call's task (accounting states only), or NULL
    size_t task_limit;         // cap of the running call's task; 0 = none

    // ---- The running call (set before every entry into Lua) ------------------------------------
    long long deadline_ns;     // 0 = none; CLOCK_MONOTONIC nanoseconds
    long long instructions_left;
    int counting;              // instructions_left is enforced
    int *cancel;               // the call's cancel flag (set from any thread), or NULL
    int interrupted;           // why the budget stopped the call: 1 time, 2 instructions, 3 cancelled
    lua_State *preemptible;    // the call's own coroutine: the only thread the hook may yield
    long long slice_end_ns;    // 0 = no preemption; else yield once past it (when yieldable)
    int preempted;             // set when the hook yielded for preemption

    // ---- Definition errors name the user's line while a script loads -------------------------
    int track_lines;
    char load_line[256];
} OrbiterLuaBudget;

static inline long long orbiter_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *orbiter_lua_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    OrbiterLuaBudget *b = (OrbiterLuaBudget *)ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        b->used -= old;
        free(ptr);
        return NULL;
    }
    if (nsize > old && !b->host && b->limit && b->used - old + nsize > b->limit) return NULL;
    void *p = realloc(ptr, nsize);
    if (p) b->used = b->used - old + nsize;
    return p;
}

static inline OrbiterLuaAccount *orbiter_account_new(void) {
    OrbiterLuaAccount *a = (OrbiterLuaAccount *)calloc(1, sizeof *a);
    if (a) a->refs = 1;
    return a;
}
static inline void orbiter_account_retain(OrbiterLuaAccount *a) { __atomic_add_fetch(&a->refs, 1, __ATOMIC_RELAXED); }
static inline void orbiter_account_release(OrbiterLuaAccount *a) {
    if (__atomic_sub_fetch(&a->refs, 1, __ATOMIC_ACQ_REL) == 0) free(a);
}

typedef struct OrbiterBlockHeader { OrbiterLuaAccount *owner; size_t unused; } OrbiterBlockHeader; // keeps 16-byte alignment

/// The allocator of accounting states: each block's header names the task that holds it. A block
/// that grows moves to the task growing it; the running task may not hold more than its cap.
static void *orbiter_lua_alloc_accounted(void *ud, void *ptr, size_t osize, size_t nsize) {
    OrbiterLuaBudget *b = (OrbiterLuaBudget *)ud;
    OrbiterBlockHeader *h = ptr ? (OrbiterBlockHeader *)ptr - 1 : NULL;
    size_t old = ptr ? osize : 0;
    OrbiterLuaAccount *prev = h ? h->owner : NULL;
    if (nsize == 0) {
        if (h) {
            b->used -= old;
            if (prev) { prev->used -= (long long)old; orbiter_account_release(prev); }
            free(h);
        }
        return NULL;
    }
    OrbiterLuaAccount *owner = nsize > old ? b->account : prev;   // shrinking keeps the owner
    if (nsize > old && !b->host) {
        if (b->limit && b->used - old + nsize > b->limit) return NULL;
        if (owner && b->task_limit) {
            long long held = owner->used + (long long)nsize - (prev == owner ? (long long)old : 0);
            if (held > (long long)b->task_limit) return NULL;
        }
    }
    OrbiterBlockHeader *n = (OrbiterBlockHeader *)realloc(h, nsize + sizeof *n);
    if (!n) return NULL;
    if (prev) prev->used -= (long long)old;
    if (owner) owner->used += (long long)nsize;
    if (prev != owner) {
        if (owner) orbiter_account_retain(owner);
        if (prev) orbiter_account_release(prev);
    }
    n->owner = owner;
    b->used = b->used - old + nsize;
    return n + 1;
}

/// Bytes the running call may still allocate (under both caps); -1 when unlimited.
static inline long long orbiter_lua_room(const OrbiterLuaBudget *b) {
    long long room = -1;
    if (b->limit) room = (long long)b->limit - (long long)b->used;
    if (b->task_limit && b->account) {
        long long task = (long long)b->task_limit - b->account->used;
        if (room < 0 || task < room) room = task;
    }
    return room < -1 ? 0 : room;
}

/// Sets a cancel flag from any thread.
static inline void orbiter_flag_set(int *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELEASE); }
static inline int orbiter_flag_get(int *flag) { return __atomic_load_n(flag, __ATOMIC_ACQUIRE); }

/// Charges `work` instructions and tells whether the call must stop (0: no; else the reason).
static inline int orbiter_budget_spent(OrbiterLuaBudget *b, long long work) {
    if (b->cancel && orbiter_flag_get(b->cancel)) return 3;
    if (b->deadline_ns && orbiter_now_ns() > b->deadline_ns) return 1;
    if (b->counting) {
        b->instructions_left -= work;
        if (b->instructions_left < 0) return 2;
    }
    return 0;
}

static inline const char *orbiter_budget_message(int why) {
    return why == 1 ? "time limit exceeded" : why == 2 ? "instruction limit exceeded" : "cancelled";
}

#define ORBITER_HOOK_EVERY 1000

static void orbiter_lua_hook(lua_State *L, lua_Debug *ar);

/// Raises the budget's error on `L` (never returns). The hook of `L` is re-armed with count 1, so
/// a pcall that swallows the error is stopped again at once.
static int orbiter_budget_raise(lua_State *L, OrbiterLuaBudget *b, int why) {
    b->interrupted = why;
    if (lua_gethook(L)) lua_sethook(L, orbiter_lua_hook, lua_gethookmask(L) | LUA_MASKCOUNT, 1);
    return luaL_error(L, "%s", orbiter_budget_message(why));
}

static void orbiter_lua_hook(lua_State *L, lua_Debug *ar) {
    OrbiterLuaBudget *b = *(OrbiterLuaBudget **)lua_getextraspace(L);
    if (!b) return;
    if (ar->event == LUA_HOOKLINE) {
        if (b->track_lines && lua_getinfo(L, "S", ar) && ar->source[0] == '@') {
            snprintf(b->load_line, sizeof b->load_line, "%s:%d", ar->short_src, ar->currentline);
        }
        return;
    }
    int why = orbiter_budget_spent(b, ORBITER_HOOK_EVERY);
    if (why) orbiter_budget_raise(L, b, why);
    if (b->slice_end_ns && L == b->preemptible && lua_isyieldable(L) && orbiter_now_ns() > b->slice_end_ns) {
        b->preempted = 1;
        lua_yield(L, 0);
    }
}

/// Arms the budget hook on a thread (hooks are per thread; coroutines created from it inherit it).
static inline void orbiter_lua_arm_hook(lua_State *L, int track_lines) {
    lua_sethook(L, orbiter_lua_hook, LUA_MASKCOUNT | (track_lines ? LUA_MASKLINE : 0), ORBITER_HOOK_EVERY);
}
static inline void orbiter_lua_disarm_hook(lua_State *L) { lua_sethook(L, NULL, 0, 0); }

#endif
