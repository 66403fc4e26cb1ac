import OrbiterCore
import Synchronization

/// The script bundles loaded in this process, by SHA-256, so `distributed(agent, ...)` can ship
/// the bundle an agent's Lua tools and models came from without the caller passing it.
///
/// Entries are weak: a bundle is found while a runtime that loaded it is alive (an agent's tools
/// keep theirs alive), so the table holds what is in use, never more, and never forgets it.
public enum LoadedBundles {
    private final class Entry: Sendable {
        weak let runtime: LuaRuntime?
        init(_ runtime: LuaRuntime) { self.runtime = runtime }
    }

    private static let entries = Mutex<[String: [Entry]]>([:])

    static func register(_ runtime: LuaRuntime) {
        entries.withLock { all in
            var live = (all[runtime.bundle.sha256] ?? []).filter { $0.runtime != nil }
            live.append(Entry(runtime))
            all[runtime.bundle.sha256] = live
            // Forget bundles whose runtimes are all gone, now and then rather than on every load.
            if all.count > 64 && all.count.isMultiple(of: 16) {
                all = all.filter { $0.value.contains { $0.runtime != nil } }
            }
        }
    }

    /// The bundle with this hash, if a runtime that loaded it is still alive here.
    public static func bundle(sha256: String) -> ScriptBundle? {
        entries.withLock { $0[sha256]?.lazy.compactMap(\.runtime).first?.bundle }
    }

    /// The one bundle a node's Lua tools and models come from; `nil` when it uses none.
    /// Mixing scripts in one node is an error: a task carries one bundle.
    public static func bundle(for node: Runnable) throws -> ScriptBundle? {
        var hashes = Set<String>()
        collect(node, into: &hashes)
        guard hashes.count <= 1 else {
            throw OrbiterError.invalidConfiguration("this agent uses tools or models from \(hashes.count) different scripts; a task can carry one script bundle")
        }
        guard let sha = hashes.first else { return nil }
        guard let bundle = bundle(sha256: sha) else {
            throw OrbiterError.invalidConfiguration("script bundle \(sha.prefix(12)) is not loaded in this process; pass it explicitly")
        }
        return bundle
    }

    private static func collect(_ node: Runnable, into hashes: inout Set<String>) {
        switch node {
        case .agent(let agent):
            for tool in agent.tools { if let sha = tool.source?["bundle"]?.stringValue { hashes.insert(sha) } }
            if let lua = agent.provider as? LuaModelProvider { hashes.insert(lua.runtime.bundle.sha256) }
        case .swarm(let swarm): for member in swarm.agents { collect(member, into: &hashes) }
        case .group(let group): for member in group.agents { collect(member, into: &hashes) }
        }
    }
}
