/// What Lua code is running for, as metadata for its `orbiter.log` lines: a worker binds the
/// task's `task_id`, `agent`, `trace_id` and `worker_id` while it runs a task (script loading, tool
/// and model calls), and a host's `LuaRuntime.Options.log` reads it to tag each line.
public enum LuaLogContext {
    @TaskLocal public static var metadata: [String: String] = [:]
}
