import OrbiterCore

/// One `--allow-host` value: `HOST`, `HOST:PORT`, `*.example.com[:PORT]`, `*[:PORT]`, an IPv4
/// literal or `[IPv6][:PORT]`. Without a port, any port.
public struct AllowedHost: Sendable, Hashable, CustomStringConvertible {
    public enum Pattern: Sendable, Hashable {
        /// `*`: every host (public addresses only).
        case anyHost
        /// `*.example.com`: every name below `example.com`, not `example.com` itself (public addresses only).
        case subdomains(of: String)
        /// A host the operator named; it may reach whatever address it is or resolves to.
        case exact(String)
    }

    public let pattern: Pattern
    /// nil: any port.
    public let port: Int?

    public init(pattern: Pattern, port: Int? = nil) {
        self.pattern = pattern
        self.port = port
    }

    /// Parses one `--allow-host` value; the error names it and says what is wrong.
    public init(parsing value: String) throws {
        func invalid(_ why: String) -> OrbiterError { .invalidConfiguration("--allow-host '\(value)': \(why)") }
        if value.contains("://") || value.contains("/") {
            throw invalid("give a host (and port), not a URL, e.g. api.example.com or api.example.com:443")
        }
        let (hostPart, portPart) = try Self.splitPort(value.lowercased(), invalid: invalid)
        if let portPart {
            guard let port = Int(portPart), (1...65_535).contains(port) else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            self.port = port
        } else {
            port = nil
        }
        if hostPart == "*" {
            pattern = .anyHost
        } else if hostPart.hasPrefix("*.") {
            let domain = String(hostPart.dropFirst(2))
            guard HostName.isValid(domain) else { throw invalid("'\(domain)' is not a host name") }
            pattern = .subdomains(of: HostName.normalized(domain))
        } else if hostPart.contains("*") {
            throw invalid("a wildcard may only stand alone (*) or start the entry (*.example.com)")
        } else if let address = IPAddress(hostPart) {
            pattern = .exact(address.description)
        } else {
            guard HostName.isValid(hostPart) else {
                throw invalid(hostPart.isEmpty ? "no host given" : "'\(hostPart)' is not a host name")
            }
            pattern = .exact(HostName.normalized(hostPart))
        }
    }

    /// `host` and the port text after its last `:`, for every spelling but a bare IPv6 address.
    private static func splitPort(_ value: String, invalid: (String) -> OrbiterError) throws -> (String, String?) {
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { throw invalid("an IPv6 address needs its closing ]") }
            let host = String(value[...close])
            let rest = value[value.index(after: close)...]
            guard IPAddress(host) != nil else { throw invalid("'\(host)' is not an IPv6 address") }
            if rest.isEmpty { return (host, nil) }
            guard rest.hasPrefix(":") else { throw invalid("expected :PORT after \(host)") }
            return (host, String(rest.dropFirst()))
        }
        let colons = value.filter { $0 == ":" }.count
        if colons > 1 {
            guard IPAddress(value) != nil else { throw invalid("not a host name or IP address (write IPv6 as [ADDRESS]:PORT)") }
            return (value, nil)
        }
        guard colons == 1, let colon = value.firstIndex(of: ":") else { return (value, nil) }
        return (String(value[..<colon]), String(value[value.index(after: colon)...]))
    }

    /// Whether this entry lets a request reach `host` (normalised, `HostName.normalized`) on `port`.
    func matches(host: String, port: Int) -> Bool {
        matches(host: host) && (self.port == nil || self.port == port)
    }

    func matches(host: String) -> Bool {
        switch pattern {
        case .anyHost: return true
        case .subdomains(let domain): return host.hasSuffix("." + domain)
        case .exact(let name): return host == name
        }
    }

    /// The entry as an operator writes it.
    public var description: String {
        let host: String
        switch pattern {
        case .anyHost: host = "*"
        case .subdomains(let domain): host = "*." + domain
        case .exact(let name): host = IPAddress(name)?.hostText ?? name
        }
        return port.map { "\(host):\($0)" } ?? host
    }
}
