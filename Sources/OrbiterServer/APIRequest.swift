import Foundation
import Hummingbird
import HTTPTypes
import NIOCore
import OrbiterCore

/// Reading a request: query parameters, the bearer token, and a JSON body within the size limit.
extension Request {
    /// A query parameter, percent-decoded; nil when absent.
    func query(_ name: String) -> String? {
        uri.queryParameters[Substring(name)].map(String.init)
    }

    /// `?name=` as an integer in `range`, else 400 naming the parameter.
    func queryInt(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = query(name) else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw APIError.badRequest("query parameter '\(name)' must be an integer from \(range.lowerBound) to \(range.upperBound), got '\(text.prefix(40))'",
                                      code: "invalid_parameter")
        }
        return n
    }

    /// The token of `Authorization: Bearer T`, nil when there is none.
    var bearerToken: String? {
        guard let value = headers[.authorization] else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    /// The body as a JSON object: 413 past `limit` bytes (by Content-Length before reading, else
    /// while reading), 400 when it is not JSON or not an object.
    mutating func jsonObject(limit: Int) async throws -> [String: JSONValue] {
        let bytes = try await bodyBytes(limit: limit)
        guard !bytes.isEmpty else { throw APIError.badRequest("the request body is empty; send a JSON object", code: "bad_json") }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: bytes) } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)", code: "bad_json")
        }
        guard let object = value.objectValue else { throw APIError.badRequest("the request body must be a JSON object", code: "bad_json") }
        return object
    }

    /// The body as a JSON object, or an empty object when there is no body.
    mutating func optionalJSONObject(limit: Int) async throws -> [String: JSONValue] {
        let bytes = try await bodyBytes(limit: limit)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return [:] }
        let value: JSONValue
        do { value = try JSONValue.parse(bytes: bytes) } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error)", code: "bad_json")
        }
        guard let object = value.objectValue else { throw APIError.badRequest("the request body must be a JSON object", code: "bad_json") }
        return object
    }

    private mutating func bodyBytes(limit: Int) async throws -> [UInt8] {
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Self.tooLarge(limit)
        }
        var collected: [UInt8] = []
        for try await buffer in body {
            guard collected.count + buffer.readableBytes <= limit else { throw Self.tooLarge(limit) }
            collected.append(contentsOf: buffer.readableBytesView)
        }
        return collected
    }

    private static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, "body_too_large", "the request body is larger than \(limit) bytes (serve --max-body); send less, or reuse a stored bundle by its sha256")
    }
}

/// Building responses.
enum Reply {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.jsonString)))
    }

    static func text(_ text: String, contentType: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func error(_ error: APIError) -> Response {
        var response = json(error.json, status: error.status)
        if error.status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"orbiter\"" }
        return response
    }
}

/// Typed reads of a JSON body's fields, each error naming the field.
struct BodyFields {
    let object: [String: JSONValue]

    func string(_ key: String) throws -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let s = value.stringValue else { throw wrongType(key, "a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let b = value.boolValue else { throw wrongType(key, "true or false") }
        return b
    }

    func number(_ key: String) throws -> Double? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let d = value.doubleValue, d.isFinite else { throw wrongType(key, "a number") }
        return d
    }

    func int(_ key: String) throws -> Int? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let i = value.intValue else { throw wrongType(key, "an integer") }
        return i
    }

    func stringMap(_ key: String) throws -> [String: String]? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let members = value.objectValue else { throw wrongType(key, "an object of strings") }
        var map: [String: String] = [:]
        for (k, v) in members {
            guard let s = v.stringValue else { throw APIError.badRequest("'\(key).\(k)' must be a string", code: "invalid_field") }
            map[k] = s
        }
        return map
    }

    func array(_ key: String) throws -> [JSONValue]? {
        guard let value = object[key], !value.isNull else { return nil }
        guard let a = value.arrayValue else { throw wrongType(key, "an array") }
        return a
    }

    /// Refuses members not in `known`: a typo (`prority`) would otherwise be silently ignored.
    func onlyKnown(_ known: Set<String>) throws {
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw APIError.badRequest("unknown field '\(unknown.prefix(60))'; known fields: \(known.sorted().joined(separator: ", "))", code: "invalid_field")
        }
    }

    private func wrongType(_ key: String, _ expected: String) -> APIError {
        APIError.badRequest("'\(key)' must be \(expected)", code: "invalid_field")
    }
}
