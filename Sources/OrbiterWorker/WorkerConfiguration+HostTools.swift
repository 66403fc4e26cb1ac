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
