import OrbiterCore

/// How an MCP server's tools look to a model, and what their results become.
enum MCPToolMapping {
    /// The tools of `list` (a `tools/list` page's `tools`), named `<server>__<tool>`, each calling
    /// `tools/call` on `connection`.
    static func tools(_ list: [JSONValue], server: String, spec: MCPServerSpec, connection: MCPConnection) -> [Tool] {
        list.compactMap { entry -> Tool? in
            guard let tool = entry["name"]?.stringValue, !tool.isEmpty else { return nil }
            return Tool(name: spec.offeredName(tool),
                        description: entry["description"]?.stringValue ?? entry["title"]?.stringValue ?? "",
                        parameters: objectSchema(entry["inputSchema"]),
                        source: ["mcp": .string(server), "tool": .string(tool)]) { arguments in
                try value(of: try await connection.call(tool, arguments: arguments), server: server, tool: tool)
            }
        }
    }

    /// `schema` as an object schema with `properties`, which every model provider accepts
    /// (a server may leave out `type` or `properties` for a tool without arguments).
    static func objectSchema(_ schema: JSONValue?) -> JSONValue {
        guard case .object(var members)? = schema, members["type"] == nil || members["type"] == "object" else {
            return ["type": "object", "properties": [:]]
        }
        members["type"] = "object"
        if members["properties"]?.objectValue == nil { members["properties"] = [:] }
        return .object(members)
    }

    /// The value a tool returns for a `tools/call` result: its `structuredContent` when present,
    /// else its content as text. `isError: true` throws that text, which the model sees as the
    /// failed tool's result.
    static func value(of result: JSONValue, server: String, tool: String) throws -> JSONValue {
        let text = (result["content"]?.arrayValue ?? []).map(describe).joined(separator: "\n")
        if result["isError"]?.boolValue == true {
            throw MCPError(text.isEmpty ? "MCP server '\(server)': tool '\(tool)' failed without saying why" : text, kind: .toolError)
        }
        if let structured = result["structuredContent"], !structured.isNull { return structured }
        return .string(text)
    }

    /// One content item as text: text as it is, anything else as a short placeholder.
    static func describe(_ item: JSONValue) -> String {
        let type = item["type"]?.stringValue ?? "content"
        switch type {
        case "text":
            return item["text"]?.stringValue ?? ""
        case "image", "audio":
            return "[\(type) \(item["mimeType"]?.stringValue ?? "of unknown type"), \(decodedSize(item["data"])) bytes]"
        case "resource_link":
            return "[resource link \(item["uri"]?.stringValue ?? "")\(item["name"]?.stringValue.map { " (\($0))" } ?? "")]"
        case "resource":
            let resource = item["resource"] ?? [:]
            if let text = resource["text"]?.stringValue { return text }
            return "[resource \(resource["uri"]?.stringValue ?? "") \(resource["mimeType"]?.stringValue ?? "of unknown type"), "
                + "\(decodedSize(resource["blob"])) bytes]"
        default:
            return "[\(type) content]"
        }
    }

    /// The size of base64 `data` once decoded.
    private static func decodedSize(_ data: JSONValue?) -> Int {
        guard let text = data?.stringValue else { return 0 }
        let padding = text.reversed().prefix { $0 == "=" }.count
        return max(0, text.utf8.count / 4 * 3 - padding)
    }
}
