import OrbiterCore
import OrbiterQueue

/// Which of a shipped agent's endpoint settings a worker honours.
///
/// Provider endpoints and keys are the worker's: its environment (`OPENAI_BASE_URL`,
/// `OPENAI_API_KEY`, …), read once at start. An agent's `base_url` would let whoever can submit
/// a task send the worker's key to any host, and its `api_key_env` would let it pick any variable
/// of the worker's environment as the key; both are refused unless listed here
/// (`orbiter start worker --allow-base-url URL --allow-api-key-env NAME`). An agent's `settings`
/// need no check here: `ModelOptions` has no field that moves a request or picks a key, and an
/// unknown field fails the task when its agent is rebuilt.
public struct ProviderPolicy: Sendable, Hashable {
    /// Base URLs an agent may set (compared exactly, a trailing slash ignored).
    public var allowedBaseURLs: Set<String>
    /// Environment variables an agent may name as its key (`api_key_env`).
    public var allowedAPIKeyEnvs: Set<String>

    /// By default nothing: agents use the worker's own provider settings.
    public init(allowedBaseURLs: [String] = [], allowedAPIKeyEnvs: [String] = []) {
        self.allowedBaseURLs = Set(allowedBaseURLs.map(Self.normalized))
        self.allowedAPIKeyEnvs = Set(allowedAPIKeyEnvs)
    }

    static func normalized(_ url: String) -> String {
        var url = Substring(url)
        while url.hasSuffix("/") { url = url.dropLast() }
        return String(url)
    }

    /// Throws a `configuration` error naming the first agent field of `node` (an agent, swarm or
    /// group in `toDict` shape, members included) that this policy does not allow.
    public func check(_ node: JSONValue) throws {
        guard node.objectValue != nil else { return }
        let name = node["name"]?.stringValue ?? "?"
        if let url = node["base_url"]?.stringValue, !allowedBaseURLs.contains(Self.normalized(url)) {
            throw OrbiterError.invalidConfiguration(
                "configuration: agent '\(name)' sets base_url \"\(url)\", which this worker does not allow; the worker's own provider settings apply unless it is started with --allow-base-url \(url)")
        }
        if let variable = node["api_key_env"]?.stringValue, !allowedAPIKeyEnvs.contains(variable) {
            throw OrbiterError.invalidConfiguration(
                "configuration: agent '\(name)' sets api_key_env \"\(variable)\", which this worker does not allow; keys come from the worker's provider settings unless it is started with --allow-api-key-env \(variable)")
        }
        for member in node["agents"]?.arrayValue ?? [] { try check(member) }
    }
}
