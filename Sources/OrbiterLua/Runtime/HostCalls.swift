import CLua
import OrbiterCore

/// A value a host call hands back to Lua: JSON-shaped data, or raw bytes (bodies and program
/// output need not be UTF-8).
enum HostValue {
    case json(JSONValue)
    case bytes([UInt8])
}

/// What a yielded host call resumes its coroutine with.
enum HostReply {
    /// `true` followed by the values.
    case values([HostValue])
    /// `false` and a message the prelude raises at the user's line.
    case failed(String)
}

/// The arguments of a yielded host call, read off the coroutine before it is cleared: each as
/// JSON (nil when it is not JSON-shaped) and, for strings, as raw bytes.
struct HostCallArguments: Sendable {
    private var values: [JSONValue?] = []
    private var raw: [[UInt8]?] = []

    init(_ stack: LuaStack, first: Int32, count: Int32) {
        for offset in 0..<max(0, count) {
            let index = first + offset
            raw.append(stack.bytes(at: index))
            values.append(try? stack.json(at: index))
        }
    }

    func json(_ index: Int) -> JSONValue? { index < values.count ? values[index] : nil }
    func bytes(_ index: Int) -> [UInt8]? { index < raw.count ? raw[index] : nil }
}

extension LuaStack {
    /// Pushes a host value; with `checkingRoom`, one the running task has no memory for throws.
    func push(_ value: HostValue, checkingRoom: Bool) throws {
        switch value {
        case .json(let json):
            try push(json, checkingRoom: checkingRoom)
        case .bytes(let bytes):
            if checkingRoom, orbiter_lua_room(budget) >= 0, bytes.count > orbiter_lua_room(budget) {
                orbiter_lua_gc_collect(L)
                let room = orbiter_lua_room(budget)
                if room >= 0, bytes.count > room {
                    throw LuaError(message: "not enough memory: \(Self.describe(bytes: Int64(bytes.count))) do not fit in the \(Self.describe(bytes: room)) left")
                }
            }
            hostAllocating {
                bytes.withUnsafeBufferPointer { buffer in
                    _ = lua_pushlstring(L, buffer.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, buffer.count)
                }
            }
        }
    }
}

/// The host calls that reach the world, from the arguments the prelude yields to what the
/// script gets back. The policy is not here: it is in the `HostAccess` the host granted.
enum HostCalls {
    /// `orbiter.http.request`: arguments (request without body, body); replies status, headers,
    /// body, url.
    static func http(_ arguments: HostCallArguments, access: HostAccess, limit: Duration?) async throws -> HostReply {
        guard let http = access.http else {
            return .failed("orbiter.http: HTTP is not available on this host")
        }
        guard let spec = arguments.json(0), let url = spec["url"]?.stringValue else {
            return .failed("orbiter.http: internal: malformed request")
        }
        var request = HTTPToolRequest(method: spec["method"]?.stringValue ?? "GET", url: url)
        request.headers = (spec["headers"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.compactMap { name, value in
            value.stringValue.map { (name: name, value: $0) }
        }
        request.body = arguments.bytes(1)
        request.timeout = Self.duration(seconds: spec["timeout"]?.doubleValue ?? 30, within: limit)
        request.maxBytes = spec["max_bytes"]?.intValue ?? request.maxBytes
        request.maxRedirects = spec["max_redirects"]?.intValue ?? request.maxRedirects
        let response = try await http.perform(request)
        let headers = JSONValue.object(response.headers.mapValues(JSONValue.string))
        return .values([.json(.int(response.status)), .json(headers), .bytes(response.body), .json(.string(response.url))])
    }

    /// `orbiter.exec`: arguments (spec, stdin); replies code, stdout, stderr, truncated.
    static func exec(_ arguments: HostCallArguments, access: HostAccess, sandboxed: Bool, limit: Duration?) async throws -> HostReply {
        guard let programs = access.programs else {
            return .failed(sandboxed ? "orbiter.exec: exec is not available to shipped scripts"
                                     : "orbiter.exec: running programs is not available on this host")
        }
        guard let spec = arguments.json(0), let argv = spec["argv"]?.arrayValue?.compactMap(\.stringValue), !argv.isEmpty else {
            return .failed("orbiter.exec: internal: malformed request")
        }
        let request = ProgramRequest(
            arguments: argv, workingDirectory: spec["cwd"]?.stringValue,
            environment: (spec["env"]?.objectValue ?? [:]).compactMapValues(\.stringValue),
            standardInput: arguments.bytes(1),
            timeout: Self.duration(seconds: spec["timeout"]?.doubleValue ?? 60, within: limit),
            maxOutputBytes: spec["max_bytes"]?.intValue ?? 10 << 20)
        let result = try await programs.run(request)
        return .values([.json(.int(result.code)), .bytes(result.standardOutput), .bytes(result.standardError),
                        .json(.bool(result.truncated))])
    }

    /// `orbiter.ask`: argument (question); replies the answer. Asked through the tool call running
    /// in this task (`ToolCallScope`). A declined question is a failure the script may catch;
    /// parking (`InputNeeded`) and a missing person throw, so no script can catch them.
    static func ask(_ arguments: HostCallArguments) async throws -> HostReply {
        guard let question = arguments.json(0)?.stringValue else { return .failed("orbiter.ask: internal: malformed question") }
        guard let scope = ToolCallScope.current else {
            return .failed("orbiter.ask can only be used inside a tool's run, called by an agent (not in a model, a hook or a tool folder's loading)")
        }
        do {
            return .values([.json(.string(try await scope.ask(question)))])
        } catch let rejected as QuestionRejected {
            return .failed(rejected.description)
        }
    }

    /// `seconds`, cut to what is left of the call's time.
    private static func duration(seconds: Double, within limit: Duration?) -> Duration {
        let asked = Duration.nanoseconds(Int64(min(max(seconds, 0), 86_400) * 1e9))
        guard let limit else { return asked }
        return min(asked, max(limit, .zero))
    }
}
