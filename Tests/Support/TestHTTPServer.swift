import OrbiterCore
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 with programmable routes, for HTTP clients under test:
/// JSON, echoes, slow and huge answers, streams that never end, redirects, errors.
///
/// ```swift
/// let server = try await TestHTTPServer.start()
/// defer { Task { await server.stop() } }
/// server.route("/hello", .json(["ok": true]))
/// // request server.url("/hello")
/// ```
/// Paths match exactly, without the query; an unknown path answers 404.
public final class TestHTTPServer: Sendable {
    /// The port the server listens on (chosen by the system).
    public var port: Int { listener.port }
    private let state: TestHTTPServerState
    private let listener: LoopbackHTTPListener

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// `baseURL` + `path`.
    public func url(_ path: String) -> String { baseURL + path }

    /// Starts listening on an ephemeral port of 127.0.0.1 with `routes`.
    public static func start(routes: [String: Route] = [:]) async throws -> TestHTTPServer {
        let state = TestHTTPServerState(routes: routes)
        let listener = try await LoopbackHTTPListener.start(accepted: { state.locked { $0.acceptedConnections += 1 } }) {
            await TestHTTPServerConnection.serve($0, state: state)
        }
        return TestHTTPServer(state: state, listener: listener)
    }

    private init(state: TestHTTPServerState, listener: LoopbackHTTPListener) {
        self.state = state
        self.listener = listener
    }

    /// Closes the listener and every open connection (endless streams included).
    public func stop() async {
        await listener.stop()
    }

    /// Answers `path` with `route` from now on.
    public func route(_ path: String, _ route: Route) {
        state.locked { $0.routes[path] = route }
    }

    /// Every request received so far, in order.
    public var requests: [Request] { state.locked { $0.requests } }

    /// Connections accepted so far.
    public var acceptedConnections: Int { state.locked { $0.acceptedConnections } }

    /// Connections closed so far (by the client, or after an endless stream's write failed).
    public var closedConnections: Int { state.locked { $0.closedConnections } }

    /// Waits up to `timeout` for `closedConnections` to reach `count`; whether it did.
    public func waitForClosedConnections(_ count: Int, timeout: Duration = .seconds(2)) async -> Bool {
        await poll(timeout) { $0.closedConnections >= count }
    }

    /// Waits up to `timeout` for `count` requests to have arrived; whether they did.
    public func waitForRequests(_ count: Int, timeout: Duration = .seconds(2)) async -> Bool {
        await poll(timeout) { $0.requests.count >= count }
    }

    private func poll(_ timeout: Duration, until done: (TestHTTPServer) -> Bool) async -> Bool {
        let end = ContinuousClock.now + timeout
        while !done(self) {
            guard ContinuousClock.now < end else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// What the server received.
    public struct Request: Sendable {
        public var method: String
        /// Path and query, as sent.
        public var uri: String
        /// Names lower-cased; repeated headers joined with ", ".
        public var headers: [String: String]
        public var body: [UInt8]

        public var path: String { String(uri.prefix { $0 != "?" }) }
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        public func header(_ name: String) -> String? { headers[name.lowercased()] }

        /// The request as the `.echo` route answers it.
        public var echo: JSONValue {
            ["method": .string(method), "uri": .string(uri),
             "headers": .object(headers.mapValues { .string($0) }), "body": .string(bodyText)]
        }
    }
}

/// Routes and the record, shared by all connections.
final class TestHTTPServerState: Sendable {
    struct Contents {
        var routes: [String: TestHTTPServer.Route]
        var requests: [TestHTTPServer.Request] = []
        var acceptedConnections = 0
        var closedConnections = 0
    }

    private let contents: Mutex<Contents>

    init(routes: [String: TestHTTPServer.Route]) {
        contents = Mutex(Contents(routes: routes))
    }

    func locked<T>(_ body: (inout Contents) -> T) -> T { contents.withLock { body(&$0) } }

    /// Records a request and returns the route that answers it.
    func take(_ request: TestHTTPServer.Request) -> TestHTTPServer.Route {
        locked { contents in
            contents.requests.append(request)
            return contents.routes[request.path] ?? .text("no route for \(request.path)", status: 404)
        }
    }
}
