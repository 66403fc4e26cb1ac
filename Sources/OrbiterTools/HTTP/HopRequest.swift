/// What one hop of an exchange sends, and how that changes when it follows a redirect (as
/// browsers and curl do it).
struct HopRequest {
    /// Statuses followed; others (300, 304, …) are responses.
    static let redirectStatuses: Set<Int> = [301, 302, 303, 307, 308]

    /// Headers that belong to one origin and do not follow a redirect to another: credentials,
    /// and a `Host` the script set, which names the old one.
    static let originHeaders: Set<String> = ["authorization", "proxy-authorization", "cookie", "host"]

    /// Headers that describe a body; they go when the body goes.
    static let bodyHeaders: Set<String> = ["content-type", "content-length", "content-encoding", "transfer-encoding"]

    var method: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]?

    /// The request to send to `next` after `status` answered this one at `current`: 303 (and
    /// 301/302 after a POST) become a GET without a body; 307 and 308 keep method and body.
    func following(status: Int, from current: RequestTarget, to next: RequestTarget) -> HopRequest {
        var result = self
        let becomesGet = status == 303 ? method != "HEAD" : (status == 301 || status == 302) && method == "POST"
        if becomesGet {
            result.method = "GET"
            result.body = nil
            result.headers.removeAll { Self.bodyHeaders.contains($0.name.lowercased()) }
        }
        if !current.sameOrigin(as: next) {
            result.headers.removeAll { Self.originHeaders.contains($0.name.lowercased()) }
        }
        return result
    }
}
