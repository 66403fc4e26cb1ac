import OrbiterCore
import OrbiterQueue

extension WorkerConfiguration {
    /// The tools a task starting now may use: the hot-reloaded registry's current snapshot
    /// overlaid with the fixed Swift `hostTools`. Taken once per task, so a task sees one
    /// consistent version of every tool even if the folder changes while it runs.
    public func currentHostTools() -> [String: Tool] {
        toolRegistry.snapshot().merging(hostTools) { _, swift in swift }
    }
}

extension WorkerConfiguration {
    /// Whether `name` is one of this worker's own tools (a Swift host tool or one of its tool folder).
    func offersTool(_ name: String) -> Bool {
        hostTools[name] != nil || toolRegistry.snapshot()[name] != nil
    }
}

/// Binds only host-offered tools (for tasks without a script bundle).
struct HostToolResolver: DefinitionResolver {
    let tools: [String: Tool]
    func tool(from dict: JSONValue) throws -> Tool {
        let name = dict["source"]?["registry"]?.stringValue ?? dict["name"]?.stringValue ?? ""
        guard let tool = tools[name] else {
            throw OrbiterError.invalidConfiguration("tool '\(name)' is not offered by this worker")
        }
        return tool
    }
    func model(named qualifiedName: String) throws -> (any ModelProvider)? {
        if qualifiedName.hasPrefix("lua:") {
            throw OrbiterError.invalidConfiguration("model \"\(qualifiedName)\" needs the script bundle it was defined in, and the task has none")
        }
        return nil
    }
}
