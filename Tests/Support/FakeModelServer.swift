import OrbiterCore
import Synchronization

/// A real HTTP/1.1 server on 127.0.0.1 that answers model requests from a script.
///
/// Tests enqueue `Turn`s (a streamed reply, an HTTP error, a cut or stalled stream) and assert on
/// the events a provider emits and on `requests`, what the provider actually sent. Providers talk to
/// it over real sockets, so timeouts, retries and streaming are exercised exactly as in production.
///
/// ```swift
/// let server = try await FakeModelServer.start()
/// defer { Task { try? await server.stop() } }
/// server.enqueue(.openAIStream([OpenAIChunk.text("Hi"), OpenAIChunk.finish()]))
/// // point the provider at server.baseURL + "/v1"
/// ```
public final class FakeModelServer: Sendable {
    /// The port the server listens on (chosen by the system).
    public var port: Int { listener.port }
    private let state: FakeModelServerState
    private let listener: LoopbackHTTPListener

    /// `http://127.0.0.1:PORT`, the root of every path.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts listening on an ephemeral port.
    public static func start() async throws -> FakeModelServer {
        let state = FakeModelServerState()
        let listener = try await LoopbackHTTPListener.start(accepted: { state.locked { $0.acceptedConnections += 1 } }) {
            await FakeModelServerConnection.serve($0, state: state)
        }
        return FakeModelServer(state: state, listener: listener)
    }

    private init(state: FakeModelServerState, listener: LoopbackHTTPListener) {
        self.state = state
        self.listener = listener
    }

    /// Closes the listener and every open connection (stalled ones included).
    public func stop() async throws {
        await listener.stop()
    }

    /// Adds turns to the end of the queue.
    public func enqueue(_ turns: Turn...) { enqueue(turns) }

    /// Adds turns to the end of the queue.
    public func enqueue(_ turns: [Turn]) { state.locked { $0.queue += turns } }

    /// The answer when the queue is empty (e.g. a `500` to fail forever). By default a `500`
    /// whose message says the script ran out.
    public var fallback: Turn {
        get { state.locked { $0.fallback } }
        set { state.locked { $0.fallback = newValue } }
    }

    /// Every request received so far, in order.
    public var requests: [RecordedRequest] { state.locked { $0.requests } }

    /// Turns not yet used.
    public var pendingTurns: Int { state.locked { $0.queue.count } }

    /// Connections accepted so far (one per request unless the client keeps connections alive).
    public var acceptedConnections: Int { state.locked { $0.acceptedConnections } }

    /// Connections the client (or a cut turn) has closed so far.
    public var closedConnections: Int { state.locked { $0.closedConnections } }
}

/// The script and the record, shared by all connections.
final class FakeModelServerState: Sendable {
    struct Contents {
        var queue: [FakeModelServer.Turn] = []
        var fallback: FakeModelServer.Turn = .httpError(500, message: "fake model server: no scripted turn left")
        var requests: [FakeModelServer.RecordedRequest] = []
        var acceptedConnections = 0
        var closedConnections = 0
    }

    private let contents = Mutex(Contents())

    func locked<T>(_ body: (inout Contents) -> T) -> T { contents.withLock { body(&$0) } }

    /// Records a request and returns the turn that answers it.
    func take(_ request: FakeModelServer.RecordedRequest) -> FakeModelServer.Turn {
        locked { contents in
            contents.requests.append(request)
            return contents.queue.isEmpty ? contents.fallback : contents.queue.removeFirst()
        }
    }
}
