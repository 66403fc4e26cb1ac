import Foundation
import AsyncHTTPClient
import OrbiterCore

/// A non-2xx response, with what the retry loop needs from it.
struct HTTPStatusFailure: Error {
    var status: Int
    var message: String
    var retryAfter: Duration?
}

/// No response head arrived: connecting failed, or the server never answered.
struct ConnectFailure: Error {
    var underlying: any Error
    var url: String
}

/// The connection failed after the response head arrived (cut, reset, …).
struct BodyFailure: Error {
    var underlying: any Error
}

/// An error thrown by the caller's event handler, to be rethrown as it is.
struct CallerFailure: Error {
    var underlying: any Error
}

/// Turns whatever an attempt threw into a `ModelError`, deciding whether it is worth retrying.
enum FailureClassifier {
    /// Statuses that mean "try again later": timeout, conflict, rate limit, server trouble.
    static func isTransient(status: Int) -> Bool {
        status == 408 || status == 409 || status == 429 || (500...599).contains(status)
    }

    /// A prompt that does not fit fails the same way every time, whatever the status says.
    static func isContextLengthError(_ message: String) -> Bool {
        let m = message.lowercased()
        return ["context length", "context_length", "maximum context", "context window", "prompt is too long",
                "too many tokens"].contains { m.contains($0) }
    }

    static func classify(_ error: any Error, provider: String, model: String, options: HTTPProviderOptions)
        -> (error: ModelError, retryAfter: Duration?) {
        func failure(_ message: String, status: Int? = nil, retryable: Bool) -> ModelError {
            ModelError(provider: provider, model: model, status: status, message: message, retryable: retryable)
        }
        switch error {
        case let e as ModelError:
            return (e, nil)
        case let e as HTTPStatusFailure:
            let retryable = isTransient(status: e.status) && !isContextLengthError(e.message)
            return (failure(e.message, status: e.status, retryable: retryable), e.retryAfter)
        case let e as StreamFailure:
            return (failure(e.message, retryable: e.retryable), nil)
        case let e as BodyFailure:
            return (failure("stream interrupted: \(describe(e.underlying))", retryable: true), nil)
        case let e as ConnectFailure:
            return (failure(ConnectProblem(e.underlying).message(url: e.url, options: options), retryable: true), nil)
        default:
            return (failure("connection failed: \(describe(error))", retryable: true), nil)
        }
    }

    static func describe(_ error: any Error) -> String { String(describing: error) }

    /// `0.3`, `2`: seconds as people write them.
    static func seconds(_ duration: Duration) -> String {
        let (whole, atto) = duration.components
        if atto == 0 { return String(whole) }
        return String(Double(whole) + Double(atto) / 1e18)
    }

    /// `Retry-After` in its delta-seconds form; the HTTP-date form is rare for these APIs.
    static func retryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Double(value.filter { !$0.isWhitespace }), seconds >= 0 else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The provider's own words from an error body: `{"error":{"message":…}}` (OpenAI, Anthropic),
    /// `{"error":"…"}` (Ollama), `{"message":…}`, else the start of the body.
    static func message(fromBody body: String, status: Int) -> String {
        if let json = try? JSONValue.parse(body) {
            if let m = json["error"]?["message"]?.stringValue { return m }
            if let m = json["error"]?.stringValue { return m }
            if let m = json["message"]?.stringValue { return m }
            if let m = json["detail"]?.stringValue { return m }
        }
        let trimmed = body.trimmedWhitespace()
        if trimmed.isEmpty { return "HTTP \(status) with an empty body" }
        if let page = htmlSummary(trimmed) { return page }
        return oneLine(trimmed)
    }

    /// A proxy's or load balancer's HTML error page as one line: its title (or first heading),
    /// not the whole page.
    static func htmlSummary(_ body: String) -> String? {
        let lower = body.lowercased()
        guard lower.hasPrefix("<!doctype html") || lower.hasPrefix("<html") || lower.contains("<body") else { return nil }
        func element(_ tag: String) -> String? {
            guard let open = lower.range(of: "<\(tag)"), let openEnd = lower[open.upperBound...].firstIndex(of: ">"),
                  let close = lower.range(of: "</\(tag)>", range: openEnd..<lower.endIndex) else { return nil }
            let inner = body[lower.index(after: openEnd)..<close.lowerBound]
            let text = inner.replacingOccurrences(of: "<[^>]*>", with: " ", options: .regularExpression)
            let line = oneLine(text)
            return line.isEmpty ? nil : line
        }
        return "an HTML page: " + (element("title") ?? element("h1") ?? "no title") + " (body not shown)"
    }

    /// Whitespace runs collapsed to one space, at most 300 characters.
    static func oneLine(_ text: String) -> String {
        let flat = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return flat.count > 300 ? String(flat.prefix(300)) + "…" : flat
    }
}

extension String {
    fileprivate func trimmedWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
