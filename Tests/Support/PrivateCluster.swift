import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A Redis Cluster of a test's own on loopback: three masters with a replica each
/// (`redis-cli --cluster create ... --cluster-replicas 1`). A node marked failed after 2 s
/// (`cluster-node-timeout 2000`) lets its replica take over within a few seconds.
public final class PrivateCluster: @unchecked Sendable {
    /// Every node, in the order given to `--cluster create` (the first three start as masters).
    public let nodes: [PrivateRedis]

    /// `redis-cluster://` URL naming the first two nodes as seeds.
    public var url: String { "redis-cluster://127.0.0.1:\(nodes[0].port),127.0.0.1:\(nodes[1].port)" }

    /// Starts six cluster-enabled servers, creates the cluster and waits for `cluster_state:ok` everywhere.
    public init(masters: Int = 3, nodeTimeoutMs: Int = 2000) throws {
        nodes = try (0..<(masters * 2)).map { _ in
            try PrivateRedis(persistent: false, arguments: ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                           "--cluster-node-timeout", "\(nodeTimeoutMs)",
                                                           // A replica may take over however long ago it last heard its master.
                                                           "--cluster-replica-validity-factor", "0"],
                             port: try freeClusterPort())
        }
        let created = PrivateRedis.spawnAndWait(["/usr/bin/redis-cli", "--cluster", "create"] + nodes.map { "127.0.0.1:\($0.port)" }
                                                + ["--cluster-replicas", "1", "--cluster-yes"])
        guard created == 0 else { throw TestFailure("redis-cli --cluster create exited with \(created)") }
        try waitFor("cluster_state:ok on every node", timeout: .seconds(30)) {
            self.nodes.allSatisfy { PrivateSentinels.cli($0.port, ["cluster", "info"]).contains("cluster_state:ok") }
        }
        try waitFor("every node to see \(masters) masters with a replica each", timeout: .seconds(30)) {
            self.nodes.allSatisfy { node in
                let lines = PrivateSentinels.cli(node.port, ["cluster", "nodes"]).split(separator: "\n")
                return lines.filter { $0.contains("master") && !$0.contains("fail") }.count == masters
                    && lines.filter { $0.contains("slave") && !$0.contains("fail") }.count == masters
            }
        }
        try waitFor("every replica to be in sync with its master", timeout: .seconds(30)) {
            self.nodes.allSatisfy { node in
                let info = PrivateSentinels.cli(node.port, ["info", "replication"])
                return info.contains("role:master") || info.contains("master_link_status:up")
            }
        }
    }

    /// One node's view: the port of each live master and the slot ranges it serves.
    public func masters(askingPort port: Int? = nil) -> [(port: Int, slots: [ClosedRange<Int>])] {
        let ask = port ?? nodes.first { PrivateSentinels.cli($0.port, ["ping"]).contains("PONG") }?.port ?? nodes[0].port
        return PrivateSentinels.cli(ask, ["cluster", "nodes"]).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 8, f[2].contains("master"), !f[2].contains("fail"),
                  let address = f[1].split(separator: "@").first, let colon = address.lastIndex(of: ":"),
                  let port = Int(address[address.index(after: colon)...]) else { return nil }
            let slots = f.dropFirst(8).compactMap { item -> ClosedRange<Int>? in
                if item.hasPrefix("[") { return nil } // a slot being migrated
                let ends = item.split(separator: "-").compactMap { Int($0) }
                guard let first = ends.first else { return nil }
                return first...(ends.last ?? first)
            }
            return (port, slots)
        }
    }

    /// The port of the master serving `slot` (nil if none does).
    public func masterPort(forSlot slot: Int) -> Int? {
        masters().first { $0.slots.contains { $0.contains(slot) } }?.port
    }

    /// One name per master: of `name(0)`, `name(1)`..., the first whose `key(name)` hashes (`CLUSTER
    /// KEYSLOT`) to each master's slots, with that master's port, in port order.
    public func onEachMaster(_ name: (Int) -> String, key: (String) -> String = { $0 }) -> [(name: String, port: Int)] {
        let masters = masters()
        var found: [Int: String] = [:]
        for i in 0..<1000 where found.count < masters.count {
            let candidate = name(i)
            guard let slot = Int(PrivateSentinels.cli(masters[0].port, ["cluster", "keyslot", key(candidate)])
                .trimmingCharacters(in: .whitespacesAndNewlines)),
                  let owner = masters.first(where: { $0.slots.contains { $0.contains(slot) } }), found[owner.port] == nil else { continue }
            found[owner.port] = candidate
        }
        return found.map { (name: $0.value, port: $0.key) }.sorted { $0.port < $1.port }
    }

    /// The node listening on `port`.
    public func node(port: Int) -> PrivateRedis? { nodes.first { $0.port == port } }

    /// Waits until every live node says `cluster_state:ok` and agrees `slot` is served by a master
    /// other than `notPort` (after that master was killed).
    public func waitForFailover(of slot: Int, awayFrom notPort: Int, timeout: Duration = .seconds(30)) throws {
        try waitFor("a replica to take over slot \(slot) from the master on port \(notPort)", timeout: timeout) {
            let live = self.nodes.filter { $0.port != notPort }
            return live.allSatisfy { PrivateSentinels.cli($0.port, ["cluster", "info"]).contains("cluster_state:ok") }
                && live.allSatisfy { node in
                    self.masters(askingPort: node.port).first { $0.slots.contains { $0.contains(slot) } }.map { $0.port != notPort } ?? false
                }
        }
    }

    /// Starts a killed node again (its nodes.conf kept): it rejoins as a replica of whoever took
    /// over its slots. Returns once it is in sync.
    public func restart(port: Int) throws {
        guard let node = node(port: port) else { throw TestFailure("no node on port \(port)") }
        try node.start()
        try waitFor("the node on port \(port) to rejoin as an in-sync replica", timeout: .seconds(30)) {
            let info = PrivateSentinels.cli(port, ["info", "replication"])
            return info.contains("role:slave") && info.contains("master_link_status:up")
        }
    }

    private func waitFor(_ what: String, timeout: Duration, _ condition: () -> Bool) throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
            usleep(100_000)
        }
    }
}
