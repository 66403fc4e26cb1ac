import Foundation

/// An `http` or `https` URL a request goes to, read the way AsyncHTTPClient reads it (Foundation's
/// `URL`), so that the host the policy checks and pins is the host the client connects to.
struct RequestTarget: Sendable, Equatable {
    /// The whole URL, as sent.
    let url: String
    /// `http` or `https`.
    let scheme: String
    /// The host as the client sees it (IPv6 without brackets).
    let host: String
    let port: Int

    /// Why a URL cannot be requested, in words for the error.
    struct Invalid: Error {
        var reason: String
    }

    init(_ text: String) throws(Invalid) {
        guard let parsed = URL(string: text), let rawScheme = parsed.scheme else {
            throw Invalid(reason: "not a valid URL")
        }
        let scheme = rawScheme.lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw Invalid(reason: "only http and https URLs can be requested, not \(scheme)")
        }
        guard var host = parsed.host, !host.isEmpty else { throw Invalid(reason: "the URL has no host") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        self.url = text
        self.scheme = scheme
        self.host = host
        port = parsed.port ?? (scheme == "https" ? 443 : 80)
    }

    /// The host as the policy compares it (`HostName.normalized`).
    var policyHost: String { HostName.normalized(host) }

    /// The URL without query, fragment or credentials, for errors and responses.
    var shown: String { URLText.shown(url) }

    /// Same scheme, host and port: credentials may follow a redirect only within one origin.
    func sameOrigin(as other: RequestTarget) -> Bool {
        scheme == other.scheme && policyHost == other.policyHost && port == other.port
    }

    /// Where a redirect's `Location` (absolute or relative to this URL) leads.
    func following(_ location: String) throws(Invalid) -> RequestTarget {
        guard let base = URL(string: url), let next = URL(string: location, relativeTo: base) else {
            throw Invalid(reason: "the redirect's Location is not a valid URL")
        }
        return try RequestTarget(next.absoluteString)
    }
}

/// URLs as errors and responses show them: queries (which often carry keys), fragments and
/// credentials left out.
enum URLText {
    static func shown(_ url: String) -> String {
        var text = Substring(url)
        if let cut = text.firstIndex(where: { $0 == "?" || $0 == "#" }) { text = text[..<cut] }
        guard let schemeEnd = text.range(of: "://") else { return String(text) }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = text[authorityStart...].firstIndex(of: "/") ?? text.endIndex
        guard let at = text[authorityStart..<authorityEnd].lastIndex(of: "@") else { return String(text) }
        return String(text[..<authorityStart] + text[text.index(after: at)...])
    }
}
