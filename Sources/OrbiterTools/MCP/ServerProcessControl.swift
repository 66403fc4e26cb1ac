#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The POSIX pieces of running a stdio server: finding the program, tying its life to the host's,
/// and ending it and its process group.
enum ServerProcessControl {
    /// How a server process ended.
    enum Ending: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        /// "code 3", "signal 9": what goes inside "exited (…)".
        var description: String {
            switch self {
            case .exited(let code): return "code \(code)"
            case .signaled(let signal): return "signal \(signal)"
            }
        }
    }

    /// The full path of `command` (searched on the `PATH` of `environment` when it has no `/`).
    static func resolve(_ command: String, environment: [String: String]) -> String? {
        if command.contains("/") { return access(command, X_OK) == 0 ? command : nil }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(command)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR { continue }
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// `program arguments` wrapped so that the kernel kills the server when the host dies, even by
    /// SIGKILL (Linux: util-linux `setpriv --pdeathsig KILL`, which sets PR_SET_PDEATHSIG and execs).
    ///
    /// The death signal follows the thread that spawned the child; swift-subprocess spawns from one
    /// worker thread that lives as long as the process, so it fires exactly when the host exits.
    /// Without setpriv the server still exits on end of input, as well-behaved stdio servers do.
    static func withDeathSignal(_ program: String, _ arguments: [String]) -> (String, [String]) {
        #if os(Linux)
        if let setpriv = deathSignalShim { return (setpriv, ["--pdeathsig", "KILL", "--", program] + arguments) }
        #endif
        return (program, arguments)
    }

    private static let deathSignalShim: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first { access($0, X_OK) == 0 }

    /// Writing to a server that has just died must fail with EPIPE rather than kill the host. Only
    /// a default disposition is changed; a host that handles SIGPIPE itself keeps its handler.
    static let ignoreBrokenPipes: Void = {
        var current = sigaction()
        if sigaction(SIGPIPE, nil, &current) == 0, current.__sigaction_handler.sa_handler == nil {
            signal(SIGPIPE, SIG_IGN)
        }
    }()

    /// How `pid` ended, if it has (the zombie is left for swift-subprocess to reap).
    static func ending(of pid: pid_t) -> Ending? {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return nil }
        let child = info._sifields._sigchld
        guard child.si_pid == pid else { return nil }
        return info.si_code == CLD_EXITED ? .exited(child.si_status) : .signaled(child.si_status)
    }

    /// Waits up to `limit` for `pid` to end.
    static func waitForEnding(of pid: pid_t, upTo limit: Duration) async -> Ending? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let ending = ending(of: pid) { return ending }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(10))
            if Task.isCancelled { return ending(of: pid) }
        }
    }

    /// Ends the server whose stdin has just been closed: it gets `grace` to exit by itself, then
    /// SIGTERM to its process group and `grace` again, then SIGKILL. Whatever else is left in the
    /// group is killed too, so nothing it started outlives it.
    static func stop(_ pid: pid_t, grace: Duration) async -> Ending {
        var ending = await waitForEnding(of: pid, upTo: grace)
        if ending == nil {
            kill(-pid, SIGTERM)
            ending = await waitForEnding(of: pid, upTo: grace)
        }
        kill(-pid, SIGKILL)
        if let ending { return ending }
        return await waitForEnding(of: pid, upTo: .seconds(5)) ?? .signaled(SIGKILL)
    }
}
