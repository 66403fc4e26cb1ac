import Crypto
import Foundation
import Hummingbird
import HTTPTypes

/// The dashboard's sign-in: the token kept in an HttpOnly, SameSite=Strict cookie, and a CSRF
/// token (an HMAC of it under a key of this process) that the pages carry and every state-changing
/// call made with the cookie must send back in `X-Orbiter-CSRF`.
struct BrowserSession: Sendable {
    static let cookieName = "orbiter_token"
    static let csrfHeader = HTTPField.Name("X-Orbiter-CSRF")!
    private let key = SymmetricKey(size: .bits256)

    /// The token in the request's cookie, if any.
    func token(in request: Request) -> String? {
        request.cookies[Self.cookieName]?.value.removingPercentEncoding.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The CSRF token of a session token (any string, also "" on an open server).
    func csrf(for token: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(("csrf:" + token).utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether the request carries the CSRF token of `token` (compared in constant time).
    func checksCSRF(_ request: Request, token: String) -> Bool {
        guard let given = request.headers[Self.csrfHeader] else { return false }
        let expected = Array(csrf(for: token).utf8), presented = Array(given.utf8)
        guard expected.count == presented.count else { return false }
        return zip(expected, presented).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// `Set-Cookie` that signs the browser in with `token` (a day), or out (empty token).
    static func cookie(_ token: String) -> String {
        let value = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return "\(cookieName)=\(value); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(token.isEmpty ? 0 : 86_400)"
    }
}

extension Request {
    /// Whether a state-changing request comes from another site: its `Origin` names neither this
    /// server (`Host`) nor the `--cors` origin. Browsers send `Origin` on cross-site POSTs, so a
    /// page elsewhere cannot cancel or submit through a signed-in browser or an open local server.
    func isCrossSite(allowedOrigin: String?) -> Bool {
        guard let origin = headers[.origin] else { return false }
        if let allowedOrigin, allowedOrigin == "*" || origin == allowedOrigin { return false }
        guard let host = head.authority ?? headers[HTTPField.Name("Host")!] else { return true }
        return origin != "http://\(host)" && origin != "https://\(host)"
    }
}
