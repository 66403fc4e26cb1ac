import Foundation
import OrbiterCore

/// The MCP servers a worker offers (`--mcp FILE`), in the format most MCP clients share:
///
///     {"mcpServers": {
///        "time": {"command": "python3", "args": ["-m", "mcp_server_time"], "env": {"TZ": "UTC"}, "cwd": "/srv"},
///        "docs": {"url": "http://127.0.0.1:8765/mcp", "headers": {"authorization": "Bearer …"}, "timeout": 30}}}
///
/// `"type"` may say `stdio`, `http` or `streamable-http`; `"timeout"` is the seconds one tool call
/// may take; `"disabled": true` leaves a server out; other fields (other clients' settings) are ignored.
public enum MCPServersFile {
    /// Reads and parses the file at `path`; errors name it.
    public static func load(path: String) throws -> [String: MCPServerSpec] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw MCPError("\(path): cannot be read (\((error as NSError).localizedDescription))")
        }
        return try parse(text, file: path)
    }

    /// Parses the text of a servers file; `file` names it in errors
    /// ("servers.json: mcpServers.time.args must be a list of strings").
    public static func parse(_ text: String, file: String) throws -> [String: MCPServerSpec] {
        let root: JSONValue
        do { root = try JSONValue.parse(text) } catch { throw MCPError("\(file): not valid JSON: \(error)") }
        guard let servers = (root["mcpServers"] ?? root["servers"])?.objectValue else {
            throw MCPError("\(file): needs an object \"mcpServers\" that maps server names to their definitions")
        }
        var specs: [String: MCPServerSpec] = [:]
        for (name, definition) in servers {
            let field = Field(file: file, path: "mcpServers.\(name)")
            guard name.range(of: "^[A-Za-z0-9_-]+$", options: .regularExpression) != nil else {
                throw field.error("is not a usable server name (letters, digits, _ and - only: tools are named <server>__<tool>)")
            }
            guard let members = definition.objectValue else { throw field.error("must be an object") }
            if members["disabled"]?.boolValue == true { continue }
            specs[name] = try spec(named: name, members, field)
        }
        return specs
    }

    private static func spec(named name: String, _ members: [String: JSONValue], _ field: Field) throws -> MCPServerSpec {
        let type = try field["type"].string(members["type"])
        var timeout = Duration.seconds(60)
        if let value = members["timeout"] {
            guard let seconds = value.doubleValue, seconds > 0 else { throw field["timeout"].error("must be a number of seconds above 0") }
            timeout = .milliseconds(Int64((seconds * 1000).rounded()))
        }
        let transport: MCPServerSpec.Transport
        switch type {
        case nil where members["url"] != nil, "http", "streamable-http", "streamableHttp", "streamable_http":
            guard let url = try field["url"].string(members["url"]) else { throw field["url"].error("is missing (an http:// or https:// URL)") }
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw field["url"].error("must start with http:// or https://") }
            transport = .http(url: url, headers: try field["headers"].strings(members["headers"]))
        case nil, "stdio":
            guard let command = try field["command"].string(members["command"]), !command.isEmpty else {
                throw field["command"].error("is missing (the program that runs the server)")
            }
            transport = .stdio(command: command, arguments: try field["args"].list(members["args"]),
                               environment: try field["env"].strings(members["env"]),
                               workingDirectory: try field["cwd"].string(members["cwd"]))
        case "sse":
            throw field["type"].error("is sse, the transport of protocol 2024-11-05, which Orbiter does not speak; use streamable HTTP")
        case let other?:
            throw field["type"].error("is '\(other)'; use stdio, http or streamable-http")
        }
        return MCPServerSpec(name: name, transport: transport, callTimeout: timeout)
    }

    /// A place in the file, for errors.
    private struct Field {
        var file: String
        var path: String

        subscript(member: String) -> Field { Field(file: file, path: "\(path).\(member)") }

        func error(_ problem: String) -> MCPError { MCPError("\(file): \(path) \(problem)") }

        func string(_ value: JSONValue?) throws -> String? {
            guard let value else { return nil }
            guard let text = value.stringValue else { throw error("must be a string") }
            return text
        }

        func list(_ value: JSONValue?) throws -> [String] {
            guard let value else { return [] }
            guard let items = value.arrayValue else { throw error("must be a list of strings") }
            return try items.map { try $0.stringValue ?? { throw error("must be a list of strings") }() }
        }

        func strings(_ value: JSONValue?) throws -> [String: String] {
            guard let value else { return [:] }
            guard let members = value.objectValue else { throw error("must be an object of strings") }
            return try members.mapValues { try $0.stringValue ?? { throw error("must be an object of strings") }() }
        }
    }
}
