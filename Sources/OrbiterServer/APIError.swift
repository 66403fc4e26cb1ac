import Foundation
import HTTPTypes
import OrbiterCore
import OrbiterQueue
import OrbiterRedis

/// An error the API answers with: a status and `{"error": {"code", "message"}}`, the message
/// written for the person reading it (what is wrong, what to do).
public struct APIError: Error, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    /// A stable, machine-readable word (`bad_json`, `not_found`, ...).
    public let code: String
    public let message: String

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    /// The response body.
    public var json: JSONValue { ["error": ["code": .string(code), "message": .string(message)]] }

    static func badRequest(_ message: String, code: String = "bad_request") -> APIError { APIError(.badRequest, code, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func taskNotFound(_ id: String, queue: String) -> APIError {
        .notFound("task \(id) not found on queue '\(queue)' (it never existed there, or its results expired; pass ?queue=NAME for another queue)")
    }

    /// The API's answer to an error of the layers below.
    static func from(_ error: any Error) -> APIError {
        if let error = error as? APIError { return error }
        if let error = error as? DistributedError {
            switch error {
            case .invalidArgument(let m): return .badRequest(m)
            case .taskNotFound: return APIError(.notFound, "not_found", error.description)
            case .queueFull: return APIError(.tooManyRequests, "queue_full", error.description)
            case .idempotencyConflict: return APIError(.conflict, "idempotency_conflict", error.description)
            case .notWaitingForInput: return APIError(.conflict, "not_waiting", error.description)
            case .replyDoesNotFit: return APIError(.conflict, "reply_does_not_fit", error.description)
            case .waitTimedOut: return APIError(.gatewayTimeout, "wait_timed_out", error.description)
            default: return APIError(.internalServerError, "internal", error.description)
            }
        }
        if error is CancellationError { return APIError(.serviceUnavailable, "shutting_down", "the server is stopping; try again") }
        if case RedisError.connection = error {
            return APIError(.serviceUnavailable, "redis_unavailable", "\(error); try again once Redis is back (GET /healthz tells)")
        }
        return APIError(.internalServerError, "internal", String(describing: error))
    }
}
