import Foundation

/// A redis-server of a test's own (AOF on, in a temporary folder), for tests that restart Redis
/// — which the shared server of scripts/test.sh must never do.
public final class PrivateRedis: @unchecked Sendable {
    public let port: Int
    public let dir: URL
    public var url: String { "redis://127.0.0.1:\(port)" }

    public init() throws {
        port = try Self.freePort()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-private-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try start()
    }

    /// Starts the server (again), waiting until it answers.
    public func start() throws {
        let status = Self.spawnAndWait(["/usr/bin/redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "",
                                        "--appendonly", "yes", "--appendfsync", "always", "--dir", dir.path, "--daemonize", "yes",
                                        "--pidfile", dir.appendingPathComponent("pid").path,
                                        "--logfile", dir.appendingPathComponent("log").path])
        guard status == 0 else { throw TestFailure("redis-server exited with \(status)") }
        for _ in 0..<100 where !answers() { usleep(50_000) }
        guard answers() else { throw TestFailure("private redis-server on port \(port) did not start") }
    }

    /// Shuts the server down cleanly (the AOF keeps everything).
    public func stop() {
        _ = Self.spawnAndWait(["/usr/bin/redis-cli", "-p", "\(port)", "shutdown"])
        for _ in 0..<100 where answers() { usleep(20_000) }
    }

    deinit {
        _ = Self.spawnAndWait(["/usr/bin/redis-cli", "-p", "\(port)", "shutdown", "nosave"])
        try? FileManager.default.removeItem(at: dir)
    }

    private func answers() -> Bool {
        Self.spawnAndWait(["/usr/bin/redis-cli", "-p", "\(port)", "ping"]) == 0
    }

    /// Runs a program and waits for it with posix_spawn/waitpid: Foundation's Process on Linux
    /// sometimes misses the exit of a daemonizing child (seen here as a defunct redis-server and a
    /// `waitUntilExit` that never returned). Output goes to /dev/null.
    private static func spawnAndWait(_ args: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, args[0], &actions, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else { throw TestFailure("cannot find a free port") }
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
