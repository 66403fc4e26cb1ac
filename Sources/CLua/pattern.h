#ifndef ORBITER_CLUA_PATTERN_H
#define ORBITER_CLUA_PATTERN_H
// Lua 5.4's pattern functions (string.find, match, gmatch, gsub) with the same behaviour, but
// under the call's budget: Lua's own matcher backtracks inside C, where no hook reaches it, so
// `("a"):rep(40):find(("a*"):rep(8) .. "b")` ran for half a minute and a longer subject for hours.
// This matcher charges one instruction per step and checks the budget every ORBITER_MATCH_CHECK
// steps, so a pattern stops at the call's time, instruction or cancel limit like any Lua loop.
// One file (over the usual size) on purpose: it follows lstrlib.c's matcher function by function,
// so the two can be read side by side, and PatternDifferentialTests checks them against each other.
#include "budget.h"
#include <ctype.h>

#define ORBITER_MATCH_MAXCAPTURES 32
#define ORBITER_MATCH_MAXDEPTH 200
#define ORBITER_MATCH_CHECK 1024
#define ORBITER_CAP_UNFINISHED (-1)
#define ORBITER_CAP_POSITION (-2)

typedef struct OrbiterMatch {
    const char *src_init, *src_end, *p_end;
    lua_State *L;
    int depth;
    int level;
    int steps;
    struct { const char *init; ptrdiff_t len; } capture[ORBITER_MATCH_MAXCAPTURES];
} OrbiterMatch;

static void om_step(OrbiterMatch *ms) {
    if (++ms->steps < ORBITER_MATCH_CHECK) return;
    ms->steps = 0;
    OrbiterLuaBudget *b = *(OrbiterLuaBudget **)lua_getextraspace(ms->L);
    if (!b) return;
    int why = orbiter_budget_spent(b, ORBITER_MATCH_CHECK);
    if (why) orbiter_budget_raise(ms->L, b, why);
}

static int om_class(int c, int cl) {
    int res;
    switch (tolower(cl)) {
        case 'a': res = isalpha(c); break;
        case 'c': res = iscntrl(c); break;
        case 'd': res = isdigit(c); break;
        case 'g': res = isgraph(c); break;
        case 'l': res = islower(c); break;
        case 'p': res = ispunct(c); break;
        case 's': res = isspace(c); break;
        case 'u': res = isupper(c); break;
        case 'w': res = isalnum(c); break;
        case 'x': res = isxdigit(c); break;
        case 'z': res = (c == 0); break; // deprecated in 5.4, still matched
        default: return cl == c;
    }
    if (isupper(cl)) res = !res;
    return res;
}

/// Whether `c` is in the set `[...]` from p (at '[') to ec (at ']').
static int om_in_set(int c, const char *p, const char *ec) {
    int sig = 1;
    if (*(p + 1) == '^') { sig = 0; p++; }
    while (++p < ec) {
        if (*p == '%') {
            p++;
            if (om_class(c, (unsigned char)*p)) return sig;
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)*(p - 2) <= c && c <= (unsigned char)*p) return sig;
        } else if ((unsigned char)*p == c) {
            return sig;
        }
    }
    return !sig;
}

/// The end of the single-character class starting at p.
static const char *om_class_end(OrbiterMatch *ms, const char *p) {
    char c = *p++;
    if (c == '%') {
        if (p >= ms->p_end) luaL_error(ms->L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c == '[') {
        if (*p == '^') p++;
        do {
            if (p >= ms->p_end) luaL_error(ms->L, "malformed pattern (missing ']')");
            if (*(p++) == '%' && p < ms->p_end) p++;
        } while (*p != ']');
        return p + 1;
    }
    return p;
}

static int om_single(OrbiterMatch *ms, const char *s, const char *p, const char *ep) {
    if (s >= ms->src_end) return 0;
    int c = (unsigned char)*s;
    switch (*p) {
        case '.': return 1;
        case '%': return om_class(c, (unsigned char)*(p + 1));
        case '[': return om_in_set(c, p, ep - 1);
        default: return (unsigned char)*p == c;
    }
}

static const char *om_match(OrbiterMatch *ms, const char *s, const char *p);

static const char *om_balance(OrbiterMatch *ms, const char *s, const char *p) {
    if (p >= ms->p_end - 1) luaL_error(ms->L, "malformed pattern (missing arguments to '%%b')");
    if (s >= ms->src_end || *s != *p) return NULL;
    int b = *p, e = *(p + 1), open = 1;
    while (++s < ms->src_end) {
        om_step(ms);
        if (*s == e) {
            if (--open == 0) return s + 1;
        } else if (*s == b) {
            open++;
        }
    }
    return NULL;
}

static const char *om_max_expand(OrbiterMatch *ms, const char *s, const char *p, const char *ep) {
    ptrdiff_t i = 0;
    while (om_single(ms, s + i, p, ep)) { i++; om_step(ms); }
    while (i >= 0) {
        const char *res = om_match(ms, s + i, ep + 1);
        if (res) return res;
        i--;
    }
    return NULL;
}

static const char *om_min_expand(OrbiterMatch *ms, const char *s, const char *p, const char *ep) {
    for (;;) {
        const char *res = om_match(ms, s, ep + 1);
        if (res) return res;
        if (!om_single(ms, s, p, ep)) return NULL;
        s++;
    }
}

static const char *om_start_capture(OrbiterMatch *ms, const char *s, const char *p, ptrdiff_t what) {
    int level = ms->level;
    if (level >= ORBITER_MATCH_MAXCAPTURES) luaL_error(ms->L, "too many captures");
    ms->capture[level].init = s;
    ms->capture[level].len = what;
    ms->level = level + 1;
    const char *res = om_match(ms, s, p);
    if (!res) ms->level--;
    return res;
}

static const char *om_end_capture(OrbiterMatch *ms, const char *s, const char *p) {
    int l = ms->level - 1;
    while (l >= 0 && ms->capture[l].len != ORBITER_CAP_UNFINISHED) l--;
    if (l < 0) luaL_error(ms->L, "invalid pattern capture");
    ms->capture[l].len = s - ms->capture[l].init;
    const char *res = om_match(ms, s, p);
    if (!res) ms->capture[l].len = ORBITER_CAP_UNFINISHED;
    return res;
}

static int om_check_capture(OrbiterMatch *ms, int l) {
    l -= '1';
    if (l < 0 || l >= ms->level || ms->capture[l].len == ORBITER_CAP_UNFINISHED)
        return luaL_error(ms->L, "invalid capture index %%%d", l + 1);
    return l;
}

static const char *om_match_capture(OrbiterMatch *ms, const char *s, int l) {
    l = om_check_capture(ms, l);
    size_t len = (size_t)ms->capture[l].len;
    if ((size_t)(ms->src_end - s) >= len && memcmp(ms->capture[l].init, s, len) == 0) return s + len;
    return NULL;
}

static const char *om_match(OrbiterMatch *ms, const char *s, const char *p) {
    if (ms->depth-- == 0) luaL_error(ms->L, "pattern too complex");
again:
    om_step(ms);
    if (p != ms->p_end) {
        switch (*p) {
            case '(':
                s = (*(p + 1) == ')') ? om_start_capture(ms, s, p + 2, ORBITER_CAP_POSITION)
                                      : om_start_capture(ms, s, p + 1, ORBITER_CAP_UNFINISHED);
                break;
            case ')':
                s = om_end_capture(ms, s, p + 1);
                break;
            case '$':
                if (p + 1 != ms->p_end) goto single;
                s = (s == ms->src_end) ? s : NULL;
                break;
            case '%':
                switch (*(p + 1)) {
                    case 'b':
                        s = om_balance(ms, s, p + 2);
                        if (s) { p += 4; goto again; }
                        break;
                    case 'f': {
                        p += 2;
                        if (*p != '[') luaL_error(ms->L, "missing '[' after '%%f' in pattern");
                        const char *ep = om_class_end(ms, p);
                        int previous = (s == ms->src_init) ? '\0' : (unsigned char)*(s - 1);
                        int current = (s < ms->src_end) ? (unsigned char)*s : '\0';
                        if (!om_in_set(previous, p, ep - 1) && om_in_set(current, p, ep - 1)) { p = ep; goto again; }
                        s = NULL;
                        break;
                    }
                    case '0': case '1': case '2': case '3': case '4':
                    case '5': case '6': case '7': case '8': case '9':
                        s = om_match_capture(ms, s, (unsigned char)*(p + 1));
                        if (s) { p += 2; goto again; }
                        break;
                    default: goto single;
                }
                break;
            default:
            single: {
                const char *ep = om_class_end(ms, p);
                if (!om_single(ms, s, p, ep)) {
                    if (*ep == '*' || *ep == '?' || *ep == '-') { p = ep + 1; goto again; }
                    s = NULL;
                } else {
                    switch (*ep) {
                        case '?': {
                            const char *res = om_match(ms, s + 1, ep + 1);
                            if (res) s = res;
                            else { p = ep + 1; goto again; }
                            break;
                        }
                        case '+': s = om_max_expand(ms, s + 1, p, ep); break;
                        case '*': s = om_max_expand(ms, s, p, ep); break;
                        case '-': s = om_min_expand(ms, s, p, ep); break;
                        default: s++; p = ep; goto again;
                    }
                }
                break;
            }
        }
    }
    ms->depth++;
    return s;
}

static void om_push_capture(OrbiterMatch *ms, int i, const char *s, const char *e) {
    if (i >= ms->level) {
        if (i != 0) luaL_error(ms->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(ms->L, s, (size_t)(e - s));
        return;
    }
    ptrdiff_t l = ms->capture[i].len;
    if (l == ORBITER_CAP_UNFINISHED) luaL_error(ms->L, "unfinished capture");
    if (l == ORBITER_CAP_POSITION) lua_pushinteger(ms->L, (ms->capture[i].init - ms->src_init) + 1);
    else lua_pushlstring(ms->L, ms->capture[i].init, (size_t)l);
}

static int om_push_captures(OrbiterMatch *ms, const char *s, const char *e) {
    int n = (ms->level == 0 && s) ? 1 : ms->level;
    luaL_checkstack(ms->L, n, "too many captures");
    for (int i = 0; i < n; i++) om_push_capture(ms, i, s, e);
    return n;
}

static void om_prepare(OrbiterMatch *ms, lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
    ms->L = L;
    ms->src_init = s;
    ms->src_end = s + ls;
    ms->p_end = p + lp;
    ms->steps = 0;
}

static void om_reset(OrbiterMatch *ms) {
    ms->level = 0;
    ms->depth = ORBITER_MATCH_MAXDEPTH;
}

static size_t om_start(lua_Integer pos, size_t len) {
    if (pos > 0) return (size_t)pos;
    if (pos == 0) return 1;
    if (pos < -(lua_Integer)len) return 1;
    return len + (size_t)pos + 1;
}

static int om_has_specials(const char *p, size_t l) {
    for (size_t i = 0; i < l; i++) {
        if (strchr("^$*+?.([%-", p[i]) && p[i] != '\0') return 1;
    }
    return 0;
}

/// A plain search, charged like matching: a long needle of repeated bytes is quadratic too.
static const char *om_plain_find(lua_State *L, const char *s, size_t ls, const char *p, size_t lp) {
    if (lp == 0) return s;
    if (lp > ls) return NULL;
    OrbiterMatch ms;
    om_prepare(&ms, L, s, ls, p, lp);
    const char *end = s + (ls - lp) + 1;
    while (s < end) {
        const char *first = memchr(s, *p, (size_t)(end - s));
        if (!first) return NULL;
        ms.steps += (int)(lp / 64);
        om_step(&ms);
        if (memcmp(first + 1, p + 1, lp - 1) == 0) return first;
        s = first + 1;
    }
    return NULL;
}

static int om_find_aux(lua_State *L, int find) {
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = om_start(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) { luaL_pushfail(L); return 1; }
    if (find && (lua_toboolean(L, 4) || !om_has_specials(p, lp))) {
        const char *found = om_plain_find(L, s + init, ls - init, p, lp);
        if (found) {
            lua_pushinteger(L, (found - s) + 1);
            lua_pushinteger(L, (found - s) + (lua_Integer)lp);
            return 2;
        }
    } else {
        OrbiterMatch ms;
        const char *s1 = s + init;
        int anchor = (*p == '^');
        if (anchor) { p++; lp--; }
        om_prepare(&ms, L, s, ls, p, lp);
        do {
            om_reset(&ms);
            const char *e = om_match(&ms, s1, p);
            if (e) {
                if (find) {
                    lua_pushinteger(L, (s1 - s) + 1);
                    lua_pushinteger(L, e - s);
                    return om_push_captures(&ms, NULL, 0) + 2;
                }
                return om_push_captures(&ms, s1, e);
            }
        } while (s1++ < ms.src_end && !anchor);
    }
    luaL_pushfail(L);
    return 1;
}

static int orbiter_str_find(lua_State *L) { return om_find_aux(L, 1); }
static int orbiter_str_match(lua_State *L) { return om_find_aux(L, 0); }

// gmatch's iterator: upvalues 1 subject, 2 pattern, 3 next position (0-based), 4 end of the last
// match (-1: none), so no userdata (and no finalizer) is needed.
static int om_gmatch_next(lua_State *L) {
    size_t ls, lp;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(3));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(4));
    OrbiterMatch ms;
    om_prepare(&ms, L, s, ls, p, lp);
    for (const char *src = s + pos; src <= ms.src_end; src++) {
        om_reset(&ms);
        const char *e = om_match(&ms, src, p);
        if (e && (last < 0 || e != s + last)) {
            lua_pushinteger(L, e - s);
            lua_copy(L, -1, lua_upvalueindex(3));
            lua_copy(L, -1, lua_upvalueindex(4));
            lua_pop(L, 1);
            return om_push_captures(&ms, src, e);
        }
    }
    return 0;
}

static int orbiter_str_gmatch(lua_State *L) {
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = om_start(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) init = ls + 1;
    lua_settop(L, 2);
    lua_pushinteger(L, (lua_Integer)init);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, om_gmatch_next, 4);
    return 1;
}

static void om_add_string(OrbiterMatch *ms, luaL_Buffer *b, const char *s, const char *e) {
    size_t l;
    lua_State *L = ms->L;
    const char *news = lua_tolstring(L, 3, &l);
    const char *p;
    while ((p = memchr(news, '%', l)) != NULL) {
        luaL_addlstring(b, news, (size_t)(p - news));
        p++;
        if (*p == '%') {
            luaL_addchar(b, *p);
        } else if (*p == '0') {
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (isdigit((unsigned char)*p)) {
            om_push_capture(ms, *p - '1', s, e);
            luaL_tolstring(L, -1, NULL);
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
        }
        l -= (size_t)(p + 1 - news);
        news = p + 1;
    }
    luaL_addlstring(b, news, l);
}

static int om_add_value(OrbiterMatch *ms, luaL_Buffer *b, const char *s, const char *e, int tr) {
    lua_State *L = ms->L;
    switch (tr) {
        case LUA_TFUNCTION: {
            lua_pushvalue(L, 3);
            int n = om_push_captures(ms, s, e);
            lua_call(L, n, 1);
            break;
        }
        case LUA_TTABLE:
            om_push_capture(ms, 0, s, e);
            lua_gettable(L, 3);
            break;
        default:
            om_add_string(ms, b, s, e);
            return 1;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, s, (size_t)(e - s));
        return 0;
    }
    if (!lua_isstring(L, -1)) return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return 1;
}

static int orbiter_str_gsub(lua_State *L) {
    size_t srcl, lp;
    const char *src = luaL_checklstring(L, 1, &srcl);
    const char *p = luaL_checklstring(L, 2, &lp);
    const char *lastmatch = NULL;
    int tr = lua_type(L, 3);
    lua_Integer max_s = luaL_optinteger(L, 4, (lua_Integer)srcl + 1);
    int anchor = (*p == '^');
    lua_Integer n = 0;
    int changed = 0;
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                     "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (anchor) { p++; lp--; }
    OrbiterMatch ms;
    om_prepare(&ms, L, src, srcl, p, lp);
    while (n < max_s) {
        om_reset(&ms);
        const char *e = om_match(&ms, src, p);
        if (e && e != lastmatch) {
            n++;
            changed = om_add_value(&ms, &b, src, e, tr) | changed;
            src = lastmatch = e;
        } else if (src < ms.src_end) {
            luaL_addchar(&b, *src++);
            om_step(&ms);
        } else {
            break;
        }
        if (anchor) break;
    }
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, src, (size_t)(ms.src_end - src));
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

#endif
