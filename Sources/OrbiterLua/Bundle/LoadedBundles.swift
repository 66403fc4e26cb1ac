import OrbiterCore
import Synchronization

/// The script bundles loaded in this process, by SHA-256, so `distributed(agent, ...)` can ship
/// the bundle an agent's Lua tools and models came from without the caller passing it.
public enum LoadedBundles {
    private static let bundles = Mutex<[String: ScriptBundle]>([:])

    static func register(_ bundle: ScriptBundle) {
        bundles.withLock { all in
            if all.count > 256 { all.removeAll() } // a bound; callers can always pass the bundle explicitly
            all[bundle.sha256] = bundle
        }
    }

    /// The bundle with this hash, if a script with it was loaded here.
    public static func bundle(sha256: String) -> ScriptBundle? { bundles.withLock { $0[sha256] } }

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
