import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import OrbiterCore
import Synchronization

/// One request and the redirects it leads to, within one deadline.
struct HTTPExchange: Sendable {
    let policy: HTTPPolicy
    let request: HTTPToolRequest
    let isComplete: (@Sendable ([UInt8]) -> Bool)?
    let deadline: ContinuousClock.Instant
    /// The request or hop under way, which errors (a timeout too) name.
    let hop: CurrentHop

    /// Redirect bodies are read (so the connection can serve again) up to this much, then dropped.
    static let redirectBodyLimit = 64 << 10

    init(policy: HTTPPolicy, request: HTTPToolRequest, isComplete: (@Sendable ([UInt8]) -> Bool)?,
         deadline: ContinuousClock.Instant) {
        self.policy = policy
        self.request = request
        self.isComplete = isComplete
        self.deadline = deadline
        hop = CurrentHop(method: request.method.uppercased(), url: request.url)
    }

    private enum Answer {
        case response(HTTPToolResponse)
        case redirect(status: Int, location: String)
    }

    /// Where a request connects: where the URL says, or a host pinned to checked addresses.
    private enum Route {
        case direct
        case pinned([IPAddress])
    }

    func run() async throws -> HTTPToolResponse {
        var target = try parse(request.url)
        var step = HopRequest(method: request.method.uppercased(), headers: request.headers, body: request.body)
        var redirects = 0
        while true {
            hop.set(method: step.method, url: target.url)
            switch try await send(step, to: target) {
            case .response(let response):
                return response
            case .redirect(let status, let location):
                redirects += 1
                let allowed = max(0, request.maxRedirects)
                guard redirects <= allowed else { throw hop.error(.tooManyRedirects(allowed)) }
                let next: RequestTarget
                do {
                    next = try target.following(location)
                } catch {
                    throw hop.error(.invalidRequest("redirected to \(URLText.shown(location)): \(error.reason)"))
                }
                step = step.following(status: status, from: target, to: next)
                target = next
            }
        }
    }

    private func parse(_ url: String) throws -> RequestTarget {
        do { return try RequestTarget(url) } catch { throw hop.error(.invalidRequest(error.reason)) }
    }

    private func send(_ step: HopRequest, to target: RequestTarget) async throws -> Answer {
        let route = try await self.route(to: target)
        var outgoing = HTTPClientRequest(url: target.url)
        outgoing.method = HTTPMethod(rawValue: step.method)
        for header in step.headers { outgoing.headers.add(name: header.name, value: header.value) }
        if let body = step.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            switch route {
            case .direct:
                return try await exchange(outgoing, on: ToolHTTPClients.direct, at: target)
            case .pinned(let addresses):
                return try await exchange(outgoing, at: target, pinnedTo: addresses)
            }
        } catch let error as HTTPToolError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            // The client's deadline is the exchange's, and may pass a moment before ours.
            throw hop.error(.timedOut(request.timeout))
        } catch {
            if Task.isCancelled { throw CancellationError() }
            throw hop.error(TransportFailure.cause(of: error))
        }
    }

    /// Tries the checked addresses in the resolver's order until one connects.
    private func exchange(_ outgoing: HTTPClientRequest, at target: RequestTarget, pinnedTo addresses: [IPAddress]) async throws -> Answer {
        var remaining = addresses[...]
        while let address = remaining.popFirst() {
            do {
                return try await ToolHTTPClients.pinned.withClient(for: .init(host: target.host, address: address)) { client in
                    try await exchange(outgoing, on: client, at: target)
                }
            } catch where !remaining.isEmpty && TransportFailure.isConnectFailure(error) && !Task.isCancelled {
                continue
            }
        }
        preconditionFailure("a resolved host has at least one address")
    }

    /// The policy's checks: the host, then (after resolving it) its addresses.
    private func route(to target: RequestTarget) async throws -> Route {
        guard case .allowList = policy else { return .direct }
        do {
            let reach = try policy.admit(host: target.host, port: target.port)
            let addresses: [IPAddress]
            do {
                addresses = try await HostResolver.addresses(of: target.host)
            } catch is HostResolver.Unresolved {
                throw HTTPToolError.Cause.unresolvedHost(target.host)
            }
            try HTTPPolicy.check(addresses, of: target.host, reach: reach)
            // An IP literal is connected to as it is: nothing to resolve, nothing to pin.
            return IPAddress(target.host) != nil ? .direct : .pinned(addresses)
        } catch let cause as HTTPToolError.Cause {
            throw hop.error(cause)
        }
    }

    private func exchange(_ outgoing: HTTPClientRequest, on client: HTTPClient, at target: RequestTarget) async throws -> Answer {
        let remaining = max(.zero, deadline - .now)
        let response = try await client.execute(outgoing, deadline: .now() + .nanoseconds(remaining.inNanoseconds))
        let status = Int(response.status.code)
        if HopRequest.redirectStatuses.contains(status), let location = response.headers.first(name: "location") {
            await drain(response.body)
            return .redirect(status: status, location: location)
        }
        let body = try await read(response, method: outgoing.method)
        return .response(HTTPToolResponse(status: status, headers: Self.headers(response.headers), body: body, url: target.shown))
    }

    /// The body, up to `maxBytes`, or as much as `isComplete` wants.
    private func read(_ response: HTTPClientResponse, method: HTTPMethod) async throws -> [UInt8] {
        let max = request.maxBytes
        if method != .HEAD, let length = response.headers.first(name: "content-length").flatMap(Int.init), length > max {
            throw hop.error(.bodyTooLarge(max))
        }
        var body: [UInt8] = []
        for try await chunk in response.body {
            guard body.count + chunk.readableBytes <= max else { throw hop.error(.bodyTooLarge(max)) }
            body.append(contentsOf: chunk.readableBytesView)
            if let isComplete, isComplete(body) { break }
        }
        return body
    }

    private func drain(_ body: HTTPClientResponse.Body) async {
        var read = 0
        do {
            for try await chunk in body {
                read += chunk.readableBytes
                if read > Self.redirectBodyLimit { break }
            }
        } catch {}
    }

    /// Lower-case names; repeated headers joined with ", " (set-cookie with "\n").
    static func headers(_ headers: HTTPHeaders) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in headers {
            let key = name.lowercased()
            if let existing = result[key] {
                result[key] = existing + (key == "set-cookie" ? "\n" : ", ") + value
            } else {
                result[key] = value
            }
        }
        return result
    }
}

/// The request or redirect hop under way, for errors that arrive from outside it (a timeout).
final class CurrentHop: Sendable {
    private let state: Mutex<(method: String, url: String)>

    init(method: String, url: String) {
        state = Mutex((method, url))
    }

    func set(method: String, url: String) {
        state.withLock { $0 = (method, url) }
    }

    func error(_ cause: HTTPToolError.Cause) -> HTTPToolError {
        let (method, url) = state.withLock { $0 }
        return HTTPToolError(method: method, url: url, cause: cause)
    }
}
