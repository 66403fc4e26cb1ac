import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A master, one replica and three sentinels of a test's own on loopback, for failover tests.
/// The sentinels notice a dead master after 500 ms and promote the replica within a few seconds.
public final class PrivateSentinels: @unchecked Sendable {
    public let master: PrivateRedis
    public let replica: PrivateRedis
    public let sentinelPorts: [Int]
    public let masterName = "mymaster"
    private let dir: URL

    /// `redis-sentinel://` URL naming every sentinel of the group.
    public var url: String {
        "redis-sentinel://" + sentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(masterName)"
    }

    /// With `tls`: the TLS ports of the sentinels (their plain ports stay open for the fixture's checks).
    public let tlsSentinelPorts: [Int]

    /// `rediss-sentinel://` URL naming every sentinel's TLS port, trusting the test CA (`tls` groups only).
    public var tlsURL: String {
        "rediss-sentinel://" + tlsSentinelPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",") + "/\(masterName)"
            + "?tls_ca=\(certificates?.caCert ?? "")"
    }
    private let certificates: TestCertificates?

    /// Starts everything and waits until each sentinel knows the master, the replica and the other sentinels.
    /// With `tls`, replication and the sentinels' links to master and replica are TLS, and the
    /// sentinels name the TLS ports: a client that reaches the master they name must speak TLS.
    public init(sentinels: Int = 3, tls: TestCertificates? = nil) throws {
        func tlsArguments(_ port: Int) -> [String] {
            guard let tls else { return [] }
            return ["--tls-port", "\(port)", "--tls-cert-file", tls.serverCert, "--tls-key-file", tls.serverKey,
                    "--tls-ca-cert-file", tls.caCert, "--tls-auth-clients", "no", "--tls-replication", "yes"]
        }
        let masterTLS = try freePort(), replicaTLS = try freePort()
        let master = try PrivateRedis(persistent: false, arguments: tlsArguments(masterTLS))
        let replica = try PrivateRedis(persistent: false, arguments: tlsArguments(replicaTLS)
            + ["--replicaof", "127.0.0.1", "\(tls == nil ? master.port : masterTLS)"]
            + (tls == nil ? [] : ["--replica-announce-port", "\(replicaTLS)"]))
        let dir = try temporaryFolder("orbiter-sentinels")
        let ports = try (0..<sentinels).map { _ in try freePort() }
        let tlsPorts = try (0..<(tls == nil ? 0 : sentinels)).map { _ in try freePort() }
        self.master = master
        self.replica = replica
        self.dir = dir
        self.certificates = tls
        sentinelPorts = ports
        tlsSentinelPorts = tlsPorts
        let name = masterName
        let monitoredPort = tls == nil ? master.port : masterTLS
        let replicaPort = tls == nil ? replica.port : replicaTLS
        try Self.waitFor("the replica to sync") { Self.cli(replica.port, ["info", "replication"]).contains("master_link_status:up") }
        for (i, port) in ports.enumerated() {
            let conf = dir.appendingPathComponent("sentinel-\(i).conf")
            try """
                port \(port)
                bind 127.0.0.1
                daemonize yes
                pidfile \(dir.path)/sentinel-\(i).pid
                logfile \(dir.path)/sentinel-\(i).log
                dir \(dir.path)
                sentinel monitor \(masterName) 127.0.0.1 \(monitoredPort) 2
                sentinel down-after-milliseconds \(masterName) 500
                sentinel failover-timeout \(masterName) 4000
                sentinel parallel-syncs \(masterName) 1
                \(tls.map { "tls-port \(tlsPorts[i])\ntls-cert-file \($0.serverCert)\ntls-key-file \($0.serverKey)\ntls-ca-cert-file \($0.caCert)\ntls-auth-clients no\ntls-replication yes" } ?? "")

                """.write(to: conf, atomically: true, encoding: .utf8)
            guard PrivateRedis.spawnAndWait(["/usr/bin/redis-server", conf.path, "--sentinel"]) == 0 else {
                throw TestFailure("redis-server --sentinel on port \(port) did not start (see \(dir.path))")
            }
        }
        for port in ports {
            try Self.waitFor("sentinel \(port) to see the replica and \(sentinels - 1) other sentinels", timeout: .seconds(20)) {
                Self.cli(port, ["sentinel", "replicas", name]).contains("\(replicaPort)")
                    && Self.cli(port, ["sentinel", "sentinels", name]).split(separator: "\n").filter { $0 == "name" }.count == sentinels - 1
            }
        }
    }

    /// The master's port as one sentinel names it now (nil if it cannot be asked).
    public func masterPort(askingSentinel index: Int = 0) -> Int? {
        let lines = Self.cli(sentinelPorts[index], ["sentinel", "get-master-addr-by-name", masterName]).split(separator: "\n")
        return lines.count == 2 ? Int(lines[1]) : nil
    }

    /// Stops one sentinel (SIGKILL).
    public func killSentinel(_ index: Int) {
        Self.killPidFile(dir.appendingPathComponent("sentinel-\(index).pid"))
    }

    deinit {
        for i in sentinelPorts.indices { killSentinel(i) }
        try? FileManager.default.removeItem(at: dir)
    }

    static func killPidFile(_ file: URL) {
        guard let text = try? String(contentsOf: file, encoding: .utf8),
              let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        _ = Glibc.kill(pid, SIGKILL)
    }

    /// `redis-cli -p port command...`'s standard output ("" when it cannot connect).
    public static func cli(_ port: Int, _ command: [String]) -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("orbiter-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        guard PrivateRedis.spawnAndWait(["/usr/bin/redis-cli", "-p", "\(port)"] + command, stdoutPath: out) == 0 else { return "" }
        return (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
    }

    private static func waitFor(_ what: String, timeout: Duration = .seconds(10), _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
            usleep(100_000)
        }
    }
}
