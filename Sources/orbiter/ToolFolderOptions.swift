import ArgumentParser
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua

/// `--tools DIR`: a folder of trusted Lua tool files offered to agents by name, hot-reloaded.
struct ToolFolderOptions: ParsableArguments {
    @Option(name: .customLong("tools"),
            help: "A folder of trusted *.lua tool files offered to agents by name (orbiter.use_tool); reloaded when they change.")
    var directory: String?

    /// Loads the folder once (bad files are logged to `warn`, default `log`, and skipped); `nil`
    /// without `--tools`. `luaOptions` are the limits of each file's state (default: trusted,
    /// `orbiter.log` to `log`).
    func load(log: @escaping @Sendable (String) -> Void, warn: (@Sendable (String) -> Void)? = nil,
              luaOptions: LuaRuntime.Options? = nil) async throws -> ToolFolder? {
        guard let directory else { return nil }
        do {
            let folder = try ToolFolder(directory: directory, options: luaOptions, log: log, warn: warn)
            await folder.scan()
            return folder
        } catch {
            throw CLIFailure.usage("orbiter: \(error)")
        }
    }
}

/// Runs `body` while `folder` (if any) is watched for changes; the watcher stops when `body` ends.
func whileWatching<T: Sendable>(_ folder: ToolFolder?, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    guard let folder else { return try await body() }
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await folder.watch()
            return nil
        }
        group.addTask { try await body() }
        defer { group.cancelAll() }
        while let next = try await group.next() {
            if let result = next { return result }
        }
        throw CancellationError()
    }
}

/// `configuration` offering the tools of `toolRegistry` (a `--tools` folder), if given.
func configured(_ configuration: WorkerConfiguration, toolRegistry: HostToolRegistry?) -> WorkerConfiguration {
    var configuration = configuration
    if let toolRegistry { configuration.toolRegistry = toolRegistry }
    return configuration
}
