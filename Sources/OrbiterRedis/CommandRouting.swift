/// Where a command goes on a Redis Cluster: the hash slot of its key, or none for commands that
/// have no key (`INFO`, `PING`, `WAIT`, `SCRIPT LOAD`...), which `ClusterRouter` sends with their
/// neighbours in a pipeline or to a default node.
///
/// Key positions: `EVALSHA`/`EVAL`/`FCALL` the first key after numkeys (none when numkeys is 0);
/// `XREAD`/`XREADGROUP` the first stream after `STREAMS`; `XGROUP`, `XINFO`, `MEMORY USAGE`,
/// `OBJECT` the argument after the subcommand; `SCAN`/`KEYS` the hash tag of their pattern when it
/// starts with one (Orbiter only scans one queue's keys); everything else argument 1. Multi-key
/// commands are routed by their first key: Orbiter only sends ones whose keys share a hash tag.
extension EncodedCommand {
    /// The bytes of argument `index`, nil past the end.
    func argument(_ index: Int) -> ArraySlice<UInt8>? {
        guard index < lengths.count else { return nil }
        var offset = 0
        for i in 0..<index { offset += lengths[i] }
        return bytes[offset..<(offset + lengths[index])]
    }

    private func argumentUppercased(_ index: Int) -> String? {
        argument(index).map { String(decoding: $0, as: UTF8.self).uppercased() }
    }

    /// True for `SCRIPT ...` (loaded where the next command of its pipeline runs).
    var isScriptCommand: Bool { argumentUppercased(0) == "SCRIPT" }

    /// The command's hash slot, nil if it has no key.
    var hashSlot: Int? {
        guard let name = argumentUppercased(0) else { return nil }
        switch name {
        case "EVALSHA", "EVAL", "EVALSHA_RO", "EVAL_RO", "FCALL", "FCALL_RO":
            guard let n = argument(2), let numkeys = Int(String(decoding: n, as: UTF8.self)), numkeys > 0 else { return nil }
            return argument(3).map(HashSlot.of)
        case "XREAD", "XREADGROUP":
            guard let at = (1..<lengths.count).first(where: { argumentUppercased($0) == "STREAMS" }) else { return nil }
            return argument(at + 1).map(HashSlot.of)
        case "XGROUP", "XINFO", "OBJECT":
            return argument(2).map(HashSlot.of)
        case "MEMORY":
            return argumentUppercased(1) == "USAGE" ? argument(2).map(HashSlot.of) : nil
        case "SCAN", "KEYS":
            let pattern: ArraySlice<UInt8>?
            if name == "KEYS" { pattern = argument(1) }
            else { pattern = (2..<max(2, lengths.count)).first { argumentUppercased($0 - 1) == "MATCH" }.flatMap { argument($0) } }
            guard let pattern, pattern.first == UInt8(ascii: "{"),
                  let close = pattern.firstIndex(of: UInt8(ascii: "}")), close > pattern.startIndex + 1,
                  !pattern[..<close].contains(where: { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") })
            else { return nil }
            return HashSlot.of(pattern)
        case "PING", "INFO", "CONFIG", "CLIENT", "ROLE", "TIME", "WAIT", "WAITAOF", "SCRIPT", "CLUSTER", "ASKING",
             "READONLY", "READWRITE", "DBSIZE", "FLUSHALL", "FLUSHDB", "SELECT", "AUTH", "HELLO", "COMMAND", "ACL",
             "LATENCY", "SLOWLOG", "DEBUG", "MULTI", "EXEC", "DISCARD", "FUNCTION", "LASTSAVE", "ECHO", "QUIT":
            return nil
        default:
            return argument(1).map(HashSlot.of)
        }
    }
}
