import Foundation
import OrbiterClient
import OrbiterCore
import OrbiterLua
import OrbiterQueue

/// `POST /v1/tasks`: the body read and checked field by field, the script loaded as a worker
/// loads it (sandboxed, from the bundle alone: a script that does not load is a 422 with
/// `path:line: message`), then submitted through `distributed`, as `orbiter submit` does —
/// same signing (`ORBITER_SECRET`), idempotency, priority, bundle storage.
struct TaskSubmission {
    static let fields: Set<String> = ["script", "modules", "bundle", "entry", "input", "messages", "detailed", "queue", "timeout",
                                      "metadata", "idempotency_key", "priority", "max_retries", "wait_timeout", "delay"]

    /// The bundle's entry path when the body names none.
    static let defaultEntry = "script.lua"

    var script: String?
    var modules: [String: String]
    var bundleSHA: String?
    var entry: String
    var input: String
    var messages: [Message]
    var detailed: Bool
    var queue: String?
    var timeout: Double
    var metadata: [String: String]
    var idempotencyKey: String?
    var priority: Int?
    var maxRetries: Int?
    var waitTimeout: Double?
    var delay: Double?

    init(_ object: [String: JSONValue]) throws {
        let f = BodyFields(object: object)
        try f.onlyKnown(Self.fields)
        script = try f.string("script")
        modules = try f.stringMap("modules") ?? [:]
        bundleSHA = try f.string("bundle")
        entry = try f.string("entry") ?? Self.defaultEntry
        switch (script, bundleSHA) {
        case (nil, nil): throw APIError.badRequest("give 'script' (Lua source, with 'modules' it requires) or 'bundle' (the sha256 of a stored bundle)", code: "invalid_field")
        case (.some, .some): throw APIError.badRequest("give 'script' or 'bundle', not both", code: "invalid_field")
        default: break
        }
        if let bundleSHA, !(bundleSHA.count == 64 && bundleSHA.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })) {
            throw APIError.badRequest("'bundle' must be a sha256 in 64 lowercase hex digits, got '\(bundleSHA.prefix(80))'", code: "invalid_field")
        }
        if bundleSHA != nil && !modules.isEmpty { throw APIError.badRequest("'modules' travel inside the stored bundle; leave them out with 'bundle'", code: "invalid_field") }
        try Self.checkPath(entry, field: "entry")
        for name in modules.keys { try Self.checkModuleName(name) }
        input = try f.string("input") ?? ""
        messages = []
        for (i, m) in (try f.array("messages") ?? []).enumerated() {
            do { messages.append(try Message(json: m)) } catch {
                throw APIError.badRequest("'messages[\(i)]': \(error)", code: "invalid_field")
            }
        }
        detailed = try f.bool("detailed") ?? false
        queue = try f.string("queue")
        timeout = try f.number("timeout") ?? 300
        guard timeout > 0 else { throw APIError.badRequest("'timeout' must be a positive number of seconds", code: "invalid_field") }
        metadata = try f.stringMap("metadata") ?? [:]
        if metadata.keys.contains(where: \.isEmpty) { throw APIError.badRequest("'metadata' keys must not be empty", code: "invalid_field") }
        idempotencyKey = try f.string("idempotency_key")
        if let key = idempotencyKey, key.allSatisfy(\.isWhitespace) {
            throw APIError.badRequest("'idempotency_key' is empty; give a key that names the work (e.g. order-42), or leave it out", code: "invalid_field")
        }
        priority = try f.int("priority")
        if let priority {
            do { try TaskPriority.validate(priority, name: "'priority'") } catch { throw APIError.badRequest("\(error)", code: "invalid_field") }
        }
        maxRetries = try f.int("max_retries")
        if let maxRetries, !(0...100).contains(maxRetries) { throw APIError.badRequest("'max_retries' must be 0 to 100", code: "invalid_field") }
        waitTimeout = try f.number("wait_timeout")
        if let waitTimeout, waitTimeout <= 0 { throw APIError.badRequest("'wait_timeout' must be a positive number of seconds", code: "invalid_field") }
        delay = try f.number("delay")
        if let delay, !(0...TaskBroker.maxScheduleAhead).contains(delay) {
            throw APIError.badRequest("'delay' must be 0 to \(Int(TaskBroker.maxScheduleAhead)) seconds", code: "invalid_field")
        }
    }

    /// A module name as `require` takes it (`lib.x`, stored as `lib/x.lua`): identifiers joined by
    /// dots, so no name reaches outside the bundle (`..`, `/`, absolute paths are refused).
    static func checkModuleName(_ name: String) throws {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        let ok = name.count <= 200 && !parts.isEmpty && parts.allSatisfy { part in
            guard let first = part.utf8.first, !(48...57).contains(first) else { return false }
            return part.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
        }
        guard ok, name != "orbiter" else {
            throw APIError.badRequest("module name '\(name.prefix(80))' is not a Lua module name: use identifiers joined by dots, as require takes them (e.g. lib.util)",
                                      code: "invalid_module_name")
        }
    }

    /// The entry's path: a plain file name ending in `.lua`.
    static func checkPath(_ path: String, field: String) throws {
        guard path.hasSuffix(".lua"), path.count <= 200, !path.contains("/"), !path.contains("\\"), !path.hasPrefix("."),
              path.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw APIError.badRequest("'\(field)' must be a file name ending in .lua (no folders), got '\(path.prefix(80))'", code: "invalid_field")
        }
    }

    /// The bundle this submission runs: the sources sent, or the stored one.
    func bundle(on broker: TaskBroker) async throws -> ScriptBundle {
        if let bundleSHA {
            do { return try await broker.storedBundle(bundleSHA) } catch let error as DistributedError {
                throw APIError(.unprocessableContent, "unknown_bundle", "\(error.description.replacingOccurrences(of: "bad task payload: ", with: "")); send the script and its modules again")
            }
        }
        var sources: [String: String] = [entry: script ?? ""]
        for (name, source) in modules {
            let path = name.replacingOccurrences(of: ".", with: "/") + ".lua"
            guard path != entry else { throw APIError.badRequest("module '\(name)' has the entry's path \(entry)", code: "invalid_module_name") }
            sources[path] = source
        }
        return ScriptBundle(entry: entry, modules: sources)
    }

    /// Loads the bundle as a worker does; a load error is a 422 with `path:line: message`.
    static func load(_ bundle: ScriptBundle) async throws -> (LuaRuntime, Runnable) {
        var options = LuaRuntime.Options.shipped()
        options.access = .describing
        options.callTimeLimit = .seconds(5) // a script that loops at its top level is refused in 5 s
        do {
            let runtime = try await LuaRuntime.load(bundle: bundle, options: options)
            return (runtime, try runtime.root())
        } catch {
            throw APIError(.unprocessableContent, "script_error", String(describing: error))
        }
    }

    /// A script loaded once and submitted many times (the runtime is kept while its root is).
    struct Loaded: Sendable {
        let runtime: LuaRuntime
        let root: Runnable
    }

    /// Submits; returns the handle (`wasCreated` false: an earlier task with the same idempotency
    /// key). A script already loaded (same bundle hash) is not loaded again: `scripts` keeps the
    /// last ones that loaded.
    func submit(on broker: TaskBroker, traceparent: String?, scripts: LRUCache<String, Loaded>) async throws -> (handle: TaskHandle, bundle: String) {
        let bundle = try await bundle(on: broker)
        let loaded: Loaded
        if let known = scripts[bundle.sha256] {
            loaded = known
        } else {
            let (runtime, root) = try await Self.load(bundle)
            loaded = scripts.insert(Loaded(runtime: runtime, root: root), for: bundle.sha256)
        }
        let handle = try await distributed(loaded.root, input, messages: messages, broker: broker, detailed: detailed, timeout: timeout,
                                           metadata: metadata, bundle: loaded.runtime.bundle, idempotencyKey: idempotencyKey, maxRetries: maxRetries,
                                           traceparent: traceparent, waitTimeout: waitTimeout, priority: priority, delay: delay)
        return (handle, loaded.runtime.bundle.sha256)
    }
}
