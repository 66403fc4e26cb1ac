import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A redis-server of a test's own, for what the shared server of scripts/test.sh must never
/// see: restarts, passwords, SCRIPT FLUSH. It listens on a free port and on a Unix socket.
public final class PrivateRedis: @unchecked Sendable {
    public let port: Int
    public let dir: URL
    /// The Unix socket it also listens on (in `dir`).
    public let unixSocket: String
    /// AOF with fsync on every write: a restart keeps everything. Without it a restart starts empty.
    public let persistent: Bool
    /// `requirepass`; its own pings and shutdowns authenticate with it.
    public let password: String?
    private let arguments: [String]
    public var url: String { "redis://127.0.0.1:\(port)" }

    /// `arguments` go to redis-server after the defaults (e.g. `--user alice on >pw ~* &* +@all`).
    /// `port` nil: a free one.
    public init(persistent: Bool = true, password: String? = nil, arguments: [String] = [], port: Int? = nil) throws {
        self.port = try port ?? freePort()
        dir = try temporaryFolder("orbiter-private-redis")
        unixSocket = dir.appendingPathComponent("redis.sock").path
        self.persistent = persistent
        self.password = password
        self.arguments = arguments
        try start()
    }

    /// Starts the server (again), waiting until it answers.
    public func start() throws {
        var args = ["/usr/bin/redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", persistent ? "yes" : "no", "--dir", dir.path, "--daemonize", "yes",
                    "--unixsocket", unixSocket, "--unixsocketperm", "700",
                    "--pidfile", dir.appendingPathComponent("pid").path,
                    "--logfile", dir.appendingPathComponent("log").path]
        if persistent { args += ["--appendfsync", "always"] }
        if let password { args += ["--requirepass", password] }
        let status = Self.spawnAndWait(args + arguments)
        guard status == 0 else { throw TestFailure("redis-server exited with \(status)") }
        let deadline = ContinuousClock.now + .seconds(5)
        while !ready() {
            guard ContinuousClock.now < deadline else {
                let log = (try? String(contentsOf: dir.appendingPathComponent("log"), encoding: .utf8)) ?? ""
                throw TestFailure("private redis-server on port \(port) did not start; its log ends: \(log.suffix(600))")
            }
            usleep(20_000)
        }
    }

    /// Shuts the server down cleanly (with persistence the AOF keeps everything).
    public func stop() {
        _ = Self.spawnAndWait(cli(persistent ? ["shutdown"] : ["shutdown", "nosave"]))
        let deadline = ContinuousClock.now + .seconds(2)
        while answers() && ContinuousClock.now < deadline { usleep(20_000) }
    }

    /// Kills the server with SIGKILL (no shutdown, no save): a crashed master, as far as its
    /// replicas and sentinels can tell. Returns once it no longer answers.
    public func kill() {
        guard let text = try? String(contentsOf: dir.appendingPathComponent("pid"), encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        _ = Glibc.kill(pid, SIGKILL)
        let deadline = ContinuousClock.now + .seconds(2)
        while answers() && ContinuousClock.now < deadline { usleep(10_000) }
    }

    deinit {
        _ = Self.spawnAndWait(cli(["shutdown", "nosave"]))
        try? FileManager.default.removeItem(at: dir)
    }

    /// Answers on TCP and has made its Unix socket.
    private func ready() -> Bool { answers() && FileManager.default.fileExists(atPath: unixSocket) }

    /// redis-cli exits 0 on any reply (NOAUTH too) and 1 when it cannot connect.
    private func answers() -> Bool { Self.spawnAndWait(cli(["ping"])) == 0 }

    private func cli(_ command: [String]) -> [String] {
        ["/usr/bin/redis-cli", "-p", "\(port)"] + (password.map { ["--no-auth-warning", "-a", $0] } ?? []) + command
    }

    /// Runs a program and waits for it with posix_spawn/waitpid: Foundation's Process on Linux
    /// sometimes misses the exit of a daemonizing child (seen here as a defunct redis-server and a
    /// `waitUntilExit` that never returned). Output goes to /dev/null.
    /// `stdoutPath` (created or truncated) receives standard output instead of /dev/null.
    static func spawnAndWait(_ args: [String], stdoutPath: String? = nil) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, args[0], &actions, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }
}
