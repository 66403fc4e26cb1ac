import OrbiterCore

extension TestHTTPServer {
    /// How the server answers one path.
    public indirect enum Route: Sendable {
        /// A text body with a content-length.
        case text(String, status: Int = 200, headers: [(String, String)] = [])
        /// A JSON body.
        case json(JSONValue, status: Int = 200)
        /// The request as JSON (`Request.echo`): method, uri, headers, body.
        case echo
        /// A redirect with `Location: location` (taken as it is, relative or absolute).
        case redirect(to: String, status: Int = 302)
        /// `route`, after waiting `delay` before the response head.
        case delayed(Duration, Route)
        /// `count` bytes of `x`, chunked (no content-length) in pieces of `chunk` bytes, unless
        /// `announced`, which sends a content-length first.
        case bytes(count: Int, chunk: Int = 64 << 10, announced: Bool = false)
        /// A chunked body that never ends: `piece` (its `{n}` numbered from 1) every `interval`,
        /// until the client hangs up.
        case endless(piece: String, every: Duration)
        /// Whatever the closure makes of the request.
        case dynamic(@Sendable (Request) -> Route)
    }
}
