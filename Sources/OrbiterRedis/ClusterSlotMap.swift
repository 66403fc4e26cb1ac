/// Which master serves each of a Redis Cluster's 16384 slots, as `CLUSTER SLOTS` said.
struct ClusterSlotMap: Sendable {
    typealias Address = SentinelTarget.Address

    /// Masters, in the order of the first slot each serves.
    let masters: [Address]
    /// Every node the reply named (masters and replicas): where to ask again after a failover.
    let nodes: [Address]
    /// Index into `masters` per slot; -1 for a slot no master serves.
    private let owner: [Int16]

    /// The master serving `slot`, nil if none does (the cluster is down for it).
    func master(forSlot slot: Int) -> Address? {
        let i = owner[slot]
        return i < 0 ? nil : masters[Int(i)]
    }

    /// How many slots have a master.
    var coveredSlots: Int { owner.lazy.filter { $0 >= 0 }.count }

    /// Parses a `CLUSTER SLOTS` reply: `[[start, end, [ip, port, id...], [replica ip, port...]...]...]`.
    /// An empty ip means the node that answered (`askedHost`).
    init(slotsReply reply: RedisReply, askedHost: String) throws {
        guard let ranges = reply.array else {
            throw RedisError.protocolError("unexpected answer to CLUSTER SLOTS: \(reply)")
        }
        var masters: [Address] = []
        var nodes: [Address] = []
        var owner = [Int16](repeating: -1, count: HashSlot.count)
        func address(_ r: RedisReply) -> Address? {
            guard let parts = r.array, parts.count >= 2, let ip = parts[0].string, let port = parts[1].int,
                  (1...65535).contains(port) else { return nil }
            return Address(host: ip.isEmpty || ip == "?" ? askedHost : ip, port: Int(port))
        }
        for range in ranges.sorted(by: { ($0.array?.first?.int ?? 0) < ($1.array?.first?.int ?? 0) }) {
            guard let parts = range.array, parts.count >= 3, let start = parts[0].int, let end = parts[1].int,
                  0 <= start, start <= end, end < HashSlot.count, let master = address(parts[2]) else {
                throw RedisError.protocolError("unexpected slot range in CLUSTER SLOTS: \(range)")
            }
            if !masters.contains(master) { masters.append(master) }
            let index = Int16(masters.firstIndex(of: master)!)
            for slot in Int(start)...Int(end) { owner[slot] = index }
            for node in parts[2...].compactMap(address) where !nodes.contains(node) { nodes.append(node) }
        }
        self.masters = masters
        self.nodes = nodes
        self.owner = owner
    }
}

/// A `-MOVED <slot> <host:port>` or `-ASK <slot> <host:port>` reply: where the command must go.
struct ClusterRedirect: Sendable {
    let ask: Bool
    let slot: Int
    let node: SentinelTarget.Address

    /// Parses an error reply; nil unless it is a redirect.
    init?(_ reply: RedisReply) {
        guard case .error(let m) = reply else { return nil }
        self.init(message: m)
    }

    init?(message m: String) {
        let parts = m.split(separator: " ")
        guard parts.count == 3, parts[0] == "MOVED" || parts[0] == "ASK", let slot = Int(parts[1]),
              let colon = parts[2].lastIndex(of: ":"), let port = Int(parts[2][parts[2].index(after: colon)...]) else { return nil }
        var host = String(parts[2][..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        ask = parts[0] == "ASK"
        self.slot = slot
        node = .init(host: host, port: port)
    }
}
