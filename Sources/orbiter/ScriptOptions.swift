import ArgumentParser
import Foundation
import OrbiterCore
import OrbiterLua

/// Loads the script named on the command line, turning any load error into `path:line: message`
/// on stderr and exit status 2.
enum ScriptLoading {
    /// Loads a script to describe, check or submit it: nothing is reached, secrets at its top
    /// level are placeholders, and MCP toolsets stay references.
    static func load(_ path: String) throws -> (runtime: LuaRuntime, root: Runnable) {
        do {
            let runtime = try LuaRuntime(file: path, options: options(for: path, access: .describing))
            return (runtime, try runtime.root())
        } catch {
            throw CLIFailure.usage("\(String(describing: error))")
        }
    }

    /// Loads a script to run it here with `access`, its host tools bound and the MCP servers it
    /// uses started. - Parameter sandboxed: as a worker would (sandbox and worker limits).
    static func loadForRun(_ path: String, hostTools: [String: Tool], sandboxed: Bool, access: HostAccess) async throws
        -> (runtime: LuaRuntime, root: Runnable) {
        let runtime: LuaRuntime
        do {
            runtime = try LuaRuntime(file: path, options: options(for: path, sandboxed: sandboxed, access: access))
        } catch {
            throw CLIFailure.usage("\(String(describing: error))")
        }
        do {
            return (runtime, try await runtime.boundRoot(hostTools: hostTools))
        } catch {
            throw CLIFailure.usage("\((path as NSString).lastPathComponent): \(errorMessage(error))")
        }
    }
}

extension ScriptLoading {
    /// Options for a script run from the command line: trusted (or, `sandboxed`, as a worker runs
    /// it), `orbiter.log` lines on stderr, reaching what `access` grants.
    static func options(for path: String, sandboxed: Bool = false, access: HostAccess) -> LuaRuntime.Options {
        let log: @Sendable (String) -> Void = { line in Terminal.err(Terminal.dim("[\((path as NSString).lastPathComponent)] ") + line + "\n") }
        var options: LuaRuntime.Options = sandboxed ? .shipped(log: log) : .init(log: log)
        options.access = access
        return options
    }

    /// Loads the script's bundle as a worker does (sandboxed, from the bundle alone) and warns on
    /// stderr when that fails although the local load worked: the task would fail on every worker.
    /// Returns whether it loads there.
    @discardableResult
    static func warnIfWorkersCannotLoad(_ runtime: LuaRuntime, path: String) -> Bool {
        var options = LuaRuntime.Options.shipped()
        options.access = .describing
        options.callTimeLimit = .seconds(5) // a script that loops there is reported in 5 s, not a worker's 60
        do {
            _ = try LuaRuntime(bundle: runtime.bundle, options: options)
            return true
        } catch {
            Terminal.error("warning: \(path) loads here but not on a worker, where scripts run sandboxed (no io, " +
                           "os.getenv, debug; see the README's threat model): \(error). Try it with `orbiter run --sandbox`.")
            return false
        }
    }
}

/// The input argument: text, or `-`/absent for stdin. Input that is not UTF-8 is refused (exit
/// status 2) rather than passed on with U+FFFD in place of its bytes: the model would answer a
/// different question.
func resolveInput(_ input: String?) throws -> String {
    guard let input, input != "-" else {
        if isatty(0) == 1 {
            Terminal.err(Terminal.dim("orbiter: reading the input from the terminal: type it, then press Ctrl-D on an empty line "
                                      + "(or pass it as an argument)") + "\n")
        }
        return try Terminal.readStdin()
    }
    // Swift decodes arguments with repair; the raw bytes tell whether this one was UTF-8.
    if input.contains("\u{FFFD}"), let raw = rawArgument(decodingTo: input), String(validatingCString: raw) == nil {
        throw CLIFailure.usage("orbiter: the input argument is not UTF-8 text; convert it first (e.g. iconv -f latin1 -t utf-8)")
    }
    return input
}

/// The C string of the command-line argument Swift decoded as `text`.
private func rawArgument(decodingTo text: String) -> UnsafeMutablePointer<CChar>? {
    for i in 0..<Int(CommandLine.argc) {
        if let arg = CommandLine.unsafeArgv[i], String(cString: arg) == text { return arg }
    }
    return nil
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
