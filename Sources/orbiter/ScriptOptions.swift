import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterLua

/// Loads the script named on the command line, turning any load error into `path:line: message`
/// on stderr and exit status 2.
enum ScriptLoading {
    static func load(_ path: String, hostTools: [String: Tool]? = nil) throws -> (runtime: LuaRuntime, root: Runnable) {
        do {
            let runtime = try LuaRuntime(file: path, options: options(for: path))
            return (runtime, try runtime.root(hostTools: hostTools))
        } catch {
            Terminal.error("\(String(describing: error))")
            throw Exit.usage
        }
    }
}

extension ScriptLoading {
    /// Options for a script run from the command line: trusted, `orbiter.log` lines on stderr.
    static func options(for path: String) -> LuaRuntime.Options {
        .init(log: { line in Terminal.err(Terminal.dim("[\((path as NSString).lastPathComponent)] ") + line + "\n") })
    }
}

/// The input argument: text, or `-`/absent for stdin.
func resolveInput(_ input: String?) -> String {
    guard let input, input != "-" else { return Terminal.readStdin() }
    return input
}

extension Runnable {
    /// The same node with every agent's `max_steps` replaced.
    func withMaxSteps(_ n: Int) -> Runnable {
        switch self {
        case .agent(var a):
            a.maxSteps = n
            return .agent(a)
        case .swarm(var s):
            s.agents = s.agents.map { $0.withMaxSteps(n) }
            return .swarm(s)
        case .group(var g):
            g.agents = g.agents.map { $0.withMaxSteps(n) }
            return .group(g)
        }
    }
}
