/// Which hosts and addresses a host's scripts may reach over HTTP.
public enum HTTPPolicy: Sendable {
    /// A trusted local run: any host, any address.
    case unrestricted
    /// A worker: only the hosts its `--allow-host` entries name. Loopback, private, link-local
    /// and other special addresses only through an exact entry (the operator named the host);
    /// wildcard entries and `*` reach public addresses only.
    case allowList([AllowedHost])

    /// The policy of a worker's repeatable `--allow-host` values; the error names a bad value.
    public static func allowList(parsing values: [String]) throws -> HTTPPolicy {
        .allowList(try values.map { try AllowedHost(parsing: $0) })
    }

    /// Which addresses a host may be reached at, once the policy has admitted the host.
    enum Reach: Equatable {
        /// Whatever it is or resolves to (unrestricted, or an exact entry names it).
        case anyAddress
        /// Public addresses only (a wildcard entry admitted it).
        case publicAddressesOnly
    }

    /// Whether `host` (as a URL has it) on `port` may be requested at all; the error is the
    /// refusal in words.
    func admit(host: String, port: Int) throws(HTTPToolError.Cause) -> Reach {
        guard case .allowList(let entries) = self else { return .anyAddress }
        let name = HostName.normalized(host)
        let matching = entries.filter { $0.matches(host: name, port: port) }
        if matching.contains(where: { if case .exact = $0.pattern { true } else { false } }) { return .anyAddress }
        if !matching.isEmpty { return .publicAddressesOnly }
        let shown = IPAddress(name)?.hostText ?? name
        let someEntryNamesHost = entries.contains { $0.matches(host: name) }
        let allowed = entries.isEmpty ? "none given" : "allowed: " + entries.map(\.description).joined(separator: ", ")
        throw .refusedByPolicy("\(someEntryNamesHost ? "\(shown):\(port)" : shown) is not in --allow-host (\(allowed))")
    }

    /// Refuses when any of `addresses` (what `host` is or resolves to) is special and `reach`
    /// allows public addresses only.
    static func check(_ addresses: [IPAddress], of host: String, reach: Reach) throws(HTTPToolError.Cause) {
        guard reach == .publicAddressesOnly else { return }
        for address in addresses {
            guard let reason = SpecialAddresses.reason(for: address) else { continue }
            let name = HostName.normalized(host)
            let shownHost = IPAddress(name)?.hostText ?? name
            let what = IPAddress(name) == address ? "\(address) is \(reason)" : "\(shownHost) resolves to \(address), \(reason)"
            throw .refusedByPolicy("\(what); allow it with --allow-host \(shownHost)")
        }
    }
}
