import OrbiterCore
import Synchronization

/// The tools a host offers to agents by name (`orbiter.use_tool "name"`), replaceable while the
/// host runs: a worker's `--tools` folder swaps in new versions as files change.
///
/// Readers take a `snapshot()` and keep it, so one task sees one consistent set of tools however
/// often the folder changes meanwhile.
public final class HostToolRegistry: Sendable {
    private let tools: Mutex<[String: Tool]>

    public init(_ tools: [String: Tool] = [:]) {
        self.tools = Mutex(tools)
    }

    /// The tools offered now.
    public func snapshot() -> [String: Tool] { tools.withLock { $0 } }

    /// Replaces every tool at once (readers never see half an update).
    public func replace(with newTools: [String: Tool]) { tools.withLock { $0 = newTools } }
}
