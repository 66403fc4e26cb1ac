import Foundation
import Hummingbird
import HTTPTypes
import Logging
import OrbiterCore
import OrbiterQueue

/// Routes every request: CORS, authentication and scope, then the endpoint; every error
/// becomes `{"error": {"code", "message"}}` with its status.
struct APIResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let configuration: ServerConfiguration
    let brokers: BrokerPool
    let logger: Logger
    let metrics = ServerMetrics()
    let session = BrowserSession()
    /// Scripts that loaded, by bundle hash: a script submitted again is not loaded again.
    let scripts = LRUCache<String, TaskSubmission.Loaded>(capacity: 64)

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var response: Response
        if request.method == .options, configuration.corsOrigin != nil {
            response = Response(status: .noContent)
        } else {
            do {
                response = try await route(request)
            } catch {
                let apiError = APIError.from(error)
                if apiError.status == .internalServerError {
                    logger.error("\(request.method) \(request.uri.path): \(error)")
                }
                response = Reply.error(apiError)
            }
        }
        metrics.count(status: response.status.code)
        addCORS(to: &response, request: request)
        return response
    }

    private func addCORS(to response: inout Response, request: Request) {
        guard let origin = configuration.corsOrigin else { return }
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
        if request.method == .options {
            response.headers[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type, Last-Event-ID, Accept"
            response.headers[.accessControlMaxAge] = "600"
        }
    }

    /// The caller's token (or full rights on an open loopback server), checked against `scope`:
    /// 401 without a valid token, 403 with too small a scope.
    /// The caller's token, checked against `scope`: from `Authorization: Bearer`, else from the
    /// dashboard's cookie (then a state-changing call needs the page's CSRF token), else full
    /// rights on an open loopback server. 401 without a valid token, 403 with too small a scope
    /// or for a state-changing request from another site.
    func authorize(_ request: Request, _ scope: APIScope) throws -> APIToken {
        if request.query("token") != nil || request.query("access_token") != nil {
            throw APIError(.unauthorized, "token_in_url", "tokens are not accepted in the URL (URLs end up in logs and browser history); send the header Authorization: Bearer TOKEN")
        }
        let changes = request.method != .get && request.method != .head
        if changes && request.isCrossSite(allowedOrigin: configuration.corsOrigin) {
            throw APIError(.forbidden, "cross_site", "a state-changing request from another site (Origin \(request.headers[.origin] ?? "")) is refused")
        }
        let presented: String
        if let bearer = request.bearerToken {
            presented = bearer
        } else if let cookie = session.token(in: request) {
            if changes && !session.checksCSRF(request, token: cookie) {
                throw APIError(.forbidden, "csrf", "this call was made with the dashboard's sign-in cookie but without its CSRF token (X-Orbiter-CSRF); reload the page")
            }
            presented = cookie
        } else if configuration.tokens.isOpen {
            return APIToken(token: "", scope: .admin, name: "open")
        } else {
            throw APIError(.unauthorized, "unauthorized", "this endpoint needs a token: send the header Authorization: Bearer TOKEN")
        }
        if configuration.tokens.isOpen { return APIToken(token: "", scope: .admin, name: "open") }
        guard let token = configuration.tokens.match(presented) else {
            throw APIError(.unauthorized, "unauthorized", "the token is not valid for this server")
        }
        guard token.scope >= scope else {
            throw APIError(.forbidden, "forbidden", "the token '\(token.name)' has scope \(token.scope); this needs \(scope)")
        }
        return token
    }

    private func route(_ request: Request) async throws -> Response {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let method = request.method
        switch (method, parts.count == 1 ? parts[0] : "") {
        case (.get, "healthz"): return try await health()
        case (.get, "openapi.json"): return Reply.text(OpenAPIDocument.text, contentType: "application/json")
        case (.get, "metrics"):
            let token = try authorize(request, .read)
            return Reply.text(try await metrics.text(brokers: brokers, token: token), contentType: "text/plain; version=0.0.4")
        default: break
        }
        if method == .get || method == .post, parts.isEmpty || parts[0] == "ui" {
            var request = request
            return try await Dashboard(api: self, brokers: brokers).respond(&request, parts: parts)
        }
        guard parts.count >= 2, parts[0] == "v1" else { throw APIError.notFound("no such endpoint: \(method) \(request.uri.path.prefix(200)); see /openapi.json") }
        let routes = Routes(configuration: configuration, brokers: brokers, scripts: scripts)
        switch (method, Array(parts.dropFirst())) {
        case (.post, ["tasks"]):
            let token = try authorize(request, .submit)
            var request = request
            return try await routes.submit(&request, token: token)
        case (.get, ["tasks"]): return try await routes.list(request, token: try authorize(request, .read))
        case (.delete, ["tasks"]): return try await routes.purge(request, token: try authorize(request, .admin))
        case (.get, let p) where p.count == 2 && p[0] == "tasks":
            return try await routes.status(request, id: p[1], token: try authorize(request, .read))
        case (.get, let p) where p.count == 3 && p[0] == "tasks" && p[2] == "result":
            return try await routes.result(request, id: p[1], token: try authorize(request, .read))
        case (.get, let p) where p.count == 3 && p[0] == "tasks" && p[2] == "events":
            return try await routes.events(request, id: p[1], token: try authorize(request, .read))
        case (.post, let p) where p.count == 3 && p[0] == "tasks" && p[2] == "cancel":
            return try await routes.cancel(request, id: p[1], token: try authorize(request, .submit))
        case (.post, let p) where p.count == 3 && p[0] == "tasks" && p[2] == "retry":
            return try await routes.retry(request, id: p[1], token: try authorize(request, .admin))
        case (.post, let p) where p.count == 3 && p[0] == "tasks" && ["reply", "approve", "reject"].contains(p[2]):
            let token = try authorize(request, .submit)
            var request = request
            return try await routes.answer(&request, id: p[1], action: p[2], token: token)
        case (.get, ["workers"]): return try await routes.workers(request, token: try authorize(request, .read))
        case (.get, ["queues"]): return try await routes.queues(request, token: try authorize(request, .read))
        case (.get, let p) where p.count == 3 && p[0] == "queues" && p[2] == "stats":
            return try await routes.queueStats(queue: p[1], token: try authorize(request, .read))
        case (.get, ["dead"]): return try await routes.dead(request, token: try authorize(request, .read))
        default:
            throw APIError.notFound("no such endpoint: \(method) \(request.uri.path.prefix(200)); see /openapi.json")
        }
    }

    /// 200 when Redis answers, 503 when it does not (open: load balancers call it without a token).
    private func health() async throws -> Response {
        do {
            _ = try await brokers.client.send(["PING"])
            return Reply.json(["status": "ok", "redis": "ok"])
        } catch {
            return Reply.json(["status": "unavailable", "redis": .string("\(error)")], status: .serviceUnavailable)
        }
    }
}
