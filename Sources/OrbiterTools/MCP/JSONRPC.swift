import OrbiterCore

/// One JSON-RPC 2.0 message, as MCP exchanges them.
enum JSONRPCMessage: Sendable, Equatable {
    case request(id: JSONValue, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case result(id: JSONValue, JSONValue)
    case error(id: JSONValue?, JSONRPCErrorObject)

    /// The message as JSON (`"jsonrpc": "2.0"` included).
    var json: JSONValue {
        var members: [String: JSONValue] = ["jsonrpc": "2.0"]
        switch self {
        case .request(let id, let method, let params):
            members["id"] = id
            members["method"] = .string(method)
            if let params { members["params"] = params }
        case .notification(let method, let params):
            members["method"] = .string(method)
            if let params { members["params"] = params }
        case .result(let id, let result):
            members["id"] = id
            members["result"] = result
        case .error(let id, let error):
            members["id"] = id ?? .null
            var object: [String: JSONValue] = ["code": .int(error.code), "message": .string(error.message)]
            if let data = error.data { object["data"] = data }
            members["error"] = .object(object)
        }
        return .object(members)
    }

    /// The compact JSON text: one line, since JSON text escapes every newline inside strings.
    var text: String { json.jsonString }

    /// The id of a request, or of the request an answer belongs to.
    var id: JSONValue? {
        switch self {
        case .request(let id, _, _), .result(let id, _): return id
        case .error(let id, _): return id
        case .notification: return nil
        }
    }

    /// The messages in a JSON value: one message, or a batch (MCP 2025-03-26 allowed batches).
    static func messages(in value: JSONValue) throws -> [JSONRPCMessage] {
        if let batch = value.arrayValue { return try batch.map(message) }
        return [try message(value)]
    }

    /// The messages in JSON text.
    static func messages(inText text: String) throws -> [JSONRPCMessage] {
        try messages(in: JSONValue.parse(text))
    }

    private static func message(_ value: JSONValue) throws -> JSONRPCMessage {
        guard case .object(let members) = value else { throw MCPError("not a JSON-RPC message (not an object)") }
        if let method = members["method"]?.stringValue {
            if let id = members["id"], !id.isNull { return .request(id: id, method: method, params: members["params"]) }
            return .notification(method: method, params: members["params"])
        }
        if let error = members["error"] {
            let id = members["id"].flatMap { $0.isNull ? nil : $0 }
            return .error(id: id, JSONRPCErrorObject(code: error["code"]?.intValue ?? 0,
                                                     message: error["message"]?.stringValue ?? "(no message)",
                                                     data: error["data"]))
        }
        if let id = members["id"], let result = members["result"] { return .result(id: id, result) }
        throw MCPError("not a JSON-RPC message (no method, result or error)")
    }
}

/// The `error` member of a JSON-RPC answer.
struct JSONRPCErrorObject: Error, Sendable, Equatable {
    var code: Int
    var message: String
    var data: JSONValue?

    static let methodNotFound = -32601
}
