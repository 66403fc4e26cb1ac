import Foundation
import OrbiterCore

/// Everything a worker needs to run a task, as stored in the task hash.
///
/// Versioned, so a worker refuses a payload from a newer client with a clear reason instead of
/// misreading it.
public struct TaskPayload: Sendable {
    /// The payload format this build writes and reads.
    public static let version = 1

    /// The agent or swarm, `toDict()` shape.
    public var node: JSONValue
    public var input: String
    /// Conversation history before `input`.
    public var messages: [Message]
    public var detailed: Bool
    public var metadata: [String: String]
    /// Seconds the run may take.
    public var timeout: Double
    /// Seconds since 1970.
    public var createdAt: Double
    /// SHA-256 of the script bundle the node's Lua tools and models live in, if any.
    public var bundle: String?
    /// Times a retryable failure (provider 5xx/429/network, a lost worker) is retried; `nil`
    /// leaves it to the worker's default.
    public var maxRetries: Int?
    /// Seconds a parked task waits for a person's reply before it fails with `InputTimeout`;
    /// `nil`: `defaultWaitTimeout`. Each park waits this long anew.
    public var waitTimeout: Double?
    /// What the run may spend (`--max-tokens-total`, `--max-cost`); `nil`: no task budget.
    public var budget: SpendingBudget?
    /// Whose daily budget the run's spend counts against (`--tenant`); `nil`: no tenant's.
    public var tenant: String?

    /// A day.
    public static let defaultWaitTimeout = 86_400.0

    /// The agent's or swarm's name (its `toDict()` `name`) as task lists show and filter by it:
    /// `listedAgentName`. `nil` when the node has no name.
    public var agentName: String? {
        guard let name = node["name"]?.stringValue, !name.isEmpty else { return nil }
        return Self.listedAgentName(name)
    }

    /// A name as lists keep it: its first 200 characters (a name is the user's, but a list row
    /// and the task hash should stay small). Filters cut the name they are given the same way.
    public static func listedAgentName(_ name: String) -> String { String(name.prefix(200)) }

    /// 0...9, 9 first (`TaskPriority`); `nil`: the default level (5). Picks the queue stream the
    /// task waits in; the worker does not read it from the payload.
    public var priority: Int?
    /// Seconds since 1970 before which the task does not start (`scheduled` until then); `nil` or
    /// a time already past: queued at once. Read by submit only.
    public var runAt: Double?

    public init(node: JSONValue, input: String, messages: [Message] = [], detailed: Bool = false, metadata: [String: String] = [:],
                timeout: Double = 300, createdAt: Double = Date().timeIntervalSince1970, bundle: String? = nil,
                maxRetries: Int? = nil, waitTimeout: Double? = nil, budget: SpendingBudget? = nil, tenant: String? = nil) {
        self.node = node
        self.input = input
        self.messages = messages
        self.detailed = detailed
        self.metadata = metadata
        self.timeout = timeout
        self.createdAt = createdAt
        self.bundle = bundle
        self.maxRetries = maxRetries
        self.waitTimeout = waitTimeout
        self.budget = budget
        self.tenant = tenant
    }

    public var json: JSONValue {
        var d: [String: JSONValue] = [
            "version": .int(Self.version), "agent": node, "input": .string(input), "messages": .array(messages.map(\.json)),
            "detailed": .bool(detailed), "metadata": .object(metadata.mapValues(JSONValue.string)), "timeout": .double(timeout),
            "created_at": .double(createdAt), "bundle": bundle.map(JSONValue.string) ?? .null,
            "max_retries": maxRetries.map(JSONValue.int) ?? .null,
        ]
        if let waitTimeout { d["wait_timeout"] = .double(waitTimeout) }
        if let budget, !budget.isEmpty { d["budget"] = budget.json }
        if let tenant { d["tenant"] = .string(tenant) }
        if let priority { d["priority"] = .int(priority) }
        if let runAt { d["run_at"] = .double(runAt) }
        return .object(d)
    }

    /// SHA-256 of the work itself — the agent or swarm, its bundle, the input and the messages —
    /// and not of when, how or by whom it was submitted (`created_at`, timeout, metadata, trace):
    /// an idempotency key stands for one piece of work.
    public var workDigest: String {
        let work: JSONValue = ["agent": node, "bundle": bundle.map(JSONValue.string) ?? .null, "input": .string(input),
                               "messages": .array(messages.map(\.json))]
        return ContentHash.sha256Hex(work.jsonString)
    }

    /// Reads a stored payload; every problem is a `badPayload` naming the field.
    public init(jsonText: String) throws {
        let json: JSONValue
        do { json = try JSONValue.parse(jsonText) } catch { throw DistributedError.badPayload("not valid JSON (\(error))") }
        guard json.objectValue != nil else { throw DistributedError.badPayload("not a JSON object") }
        guard let version = json["version"]?.intValue else { throw DistributedError.badPayload("field 'version' is missing") }
        guard version == Self.version else {
            throw DistributedError.badPayload("version \(version) is not supported by this worker (it reads version \(Self.version))")
        }
        guard let node = json["agent"], node.objectValue != nil else { throw DistributedError.badPayload("field 'agent' must be an object") }
        guard let input = json["input"]?.stringValue else { throw DistributedError.badPayload("field 'input' must be a string") }
        var messages: [Message] = []
        for (i, m) in (json["messages"]?.arrayValue ?? []).enumerated() {
            do { messages.append(try Message(json: m)) } catch { throw DistributedError.badPayload("messages[\(i)]: \(error)") }
        }
        var metadata: [String: String] = [:]
        for (k, v) in json["metadata"]?.objectValue ?? [:] { metadata[k] = v.stringValue ?? v.jsonString }
        self.init(node: node, input: input, messages: messages, detailed: json["detailed"]?.boolValue ?? false, metadata: metadata,
                  timeout: json["timeout"]?.doubleValue ?? 300, createdAt: json["created_at"]?.doubleValue ?? 0,
                  bundle: json["bundle"]?.stringValue, maxRetries: json["max_retries"]?.intValue,
                  waitTimeout: json["wait_timeout"]?.doubleValue.flatMap { $0 > 0 && $0.isFinite ? $0 : nil })
        if let value = json["budget"], !value.isNull {
            do { budget = try SpendingBudget(json: value, field: "budget") } catch { throw DistributedError.badPayload("field \(error)") }
        }
        if let value = json["tenant"], !value.isNull {
            guard let name = value.stringValue else { throw DistributedError.badPayload("field 'tenant' must be a string") }
            do { tenant = try TenantBudgets.checkedName(name) } catch { throw DistributedError.badPayload("field 'tenant': \(error)") }
        }
        priority = json["priority"]?.intValue.flatMap { TaskPriority.range.contains($0) ? $0 : nil }
        runAt = json["run_at"]?.doubleValue.flatMap { $0.isFinite ? $0 : nil }
    }
}
