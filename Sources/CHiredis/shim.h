#ifndef ORBITER_CHIREDIS_SHIM_H
#define ORBITER_CHIREDIS_SHIM_H
// hiredis 0.14 as seen from Swift. The variadic redisCommand is not importable:
// callers use redisCommandArgv / redisAppendCommandArgv, which are also binary-safe.
#include <hiredis.h>

// errstr is a char[128], which Swift imports as a 128-element tuple: hand out a C string instead.
static inline const char *orbiter_redis_errstr(const redisContext *c) { return c->errstr; }
static inline const char *orbiter_reader_errstr(const redisReader *r) { return r->errstr; }
#endif
