import Foundation
import OrbiterCore

/// A folder of trusted, host-local Lua tool files (`orbiter start worker --tools DIR`), kept in
/// step with the disk: every `*.lua` file is loaded in its own `LuaRuntime` and its tools are
/// offered by name through `registry`.
///
/// A file that changes (or a module it `require`s) is reloaded; a file that fails to load keeps
/// its previous version and the error is logged as `path:line: message`, so a bad edit never
/// breaks a running worker. A removed file's tools stop being offered.
public actor ToolFolder {
    /// The folder as the user named it (used in log lines).
    public nonisolated let directory: String
    /// Where the folder's current tools are published.
    public nonisolated let registry: HostToolRegistry
    private let options: LuaRuntime.Options
    private let log: @Sendable (String) -> Void
    private let warn: @Sendable (String) -> Void

    /// One successfully loaded file.
    private struct Loaded {
        var version: Int
        var runtime: LuaRuntime
        var tools: [String: Tool]
        /// The file and the modules it required, as they were when loaded.
        var fingerprints: [String: FileFingerprint]
    }

    private var loaded: [String: Loaded] = [:]
    /// Files whose current content failed to load, so the error is logged once per edit.
    private var failed: [String: [String: FileFingerprint]] = [:]

    /// - Parameters:
    ///   - options: limits of each file's Lua state; trusted (not sandboxed) by default, since the
    ///     folder belongs to whoever runs the host.
    ///   - log: where "loaded ...", "reloaded ..." and "removed ..." lines go.
    ///   - warn: where problems go — a file that does not load, a tool defined twice (default: `log`).
    public init(directory: String, registry: HostToolRegistry = HostToolRegistry(),
                options: LuaRuntime.Options? = nil, log: @escaping @Sendable (String) -> Void = { _ in },
                warn: (@Sendable (String) -> Void)? = nil) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw LuaError(message: "\(directory): no such folder (--tools expects a folder of *.lua tool files)")
        }
        self.directory = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        self.registry = registry
        self.options = options ?? LuaRuntime.Options(log: log)
        self.log = log
        self.warn = warn ?? log
    }

    /// Loads what changed since the last scan and publishes the result. Returns whether the set
    /// of offered tools changed.
    @discardableResult
    public func scan() -> Bool {
        let present = FileWatcher.luaFiles(in: directory)
        var changed = false
        for path in loaded.keys.sorted() where !present.contains(path) {
            let names = loaded[path]?.tools.keys.sorted().joined(separator: ", ") ?? ""
            loaded[path] = nil
            log("removed \(path): no longer offering \(names.isEmpty ? "any tools" : names)")
            changed = true
        }
        for path in failed.keys where !present.contains(path) { failed[path] = nil }
        for path in present {
            let watched = Set([path]).union(loaded[path]?.fingerprints.keys ?? [:].keys)
            let now = FileWatcher.fingerprints(watched)
            if let current = loaded[path], current.fingerprints == now { continue }
            if failed[path] == now { continue }
            if load(path, previous: loaded[path]) {
                failed[path] = nil
                changed = true
            } else {
                failed[path] = now
            }
        }
        if changed { publish() }
        return changed
    }

    /// Scans every `interval` until the calling task is cancelled (reload latency is about one
    /// interval). Run it in a task the host owns, next to the worker.
    public func watch(every interval: Duration = .milliseconds(200)) async {
        while !Task.isCancelled {
            scan()
            do { try await Task.sleep(for: interval) } catch { return }
        }
    }

    /// Loads one file; on failure logs the error and keeps the previous version.
    private func load(_ path: String, previous: Loaded?) -> Bool {
        do {
            let runtime = try LuaRuntime(toolFile: path, options: options)
            let folder = (path as NSString).deletingLastPathComponent
            let files = runtime.bundle.modules.keys.map { folder.isEmpty ? $0 : folder + "/" + $0 }
            let version = (previous?.version ?? 0) + 1
            let tools = runtime.libraryTools()
            loaded[path] = Loaded(version: version, runtime: runtime, tools: tools,
                                  fingerprints: FileWatcher.fingerprints(files + [path]))
            let names = tools.keys.sorted().joined(separator: ", ")
            log("\(previous == nil ? "loaded" : "reloaded") \(path) (v\(version)): \(names.isEmpty ? "no tools" : names)")
            return true
        } catch {
            let kept = previous.map { "keeping v\($0.version)" } ?? "not loaded"
            warn("\(error) (\(kept))")
            return false
        }
    }

    /// Publishes every loaded file's tools; on a name defined twice the first file (by name) wins.
    private func publish() {
        var tools: [String: Tool] = [:]
        var owner: [String: String] = [:]
        for path in loaded.keys.sorted() {
            for (name, tool) in loaded[path]?.tools ?? [:] {
                if let first = owner[name] {
                    warn("\(path): tool '\(name)' is also defined in \(first); offering the one in \(first)")
                    continue
                }
                owner[name] = path
                tools[name] = tool
            }
        }
        registry.replace(with: tools)
    }
}
