import Foundation
import OrbiterCore
import OrbiterTestSupport
@testable import OrbiterTools

/// Runs `body` against a fresh `TestHTTPServer` with `routes`, stopping it afterwards.
func withServer<T>(_ routes: [String: TestHTTPServer.Route] = [:], _ body: (TestHTTPServer) async throws -> T) async throws -> T {
    let server = try await TestHTTPServer.start(routes: routes)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// A client under an allow-list parsed from `entries`.
func allowing(_ entries: String...) throws -> ToolHTTPClient {
    ToolHTTPClient(try HTTPPolicy.allowList(parsing: entries))
}

/// A GET of `url` with a short timeout (tests never wait long).
func get(_ url: String, headers: [(name: String, value: String)] = [], timeout: Duration = .seconds(5)) -> HTTPToolRequest {
    HTTPToolRequest(url: url, headers: headers, timeout: timeout)
}

extension HTTPToolResponse {
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Whether no process `pid` is running any more (gone, or a zombie nobody has reaped yet).
func isGone(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 { return errno == ESRCH }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}

/// Waits up to `timeout` for every one of `pids` to be gone; whether they were.
func allGone(_ pids: [pid_t], within timeout: Duration = .seconds(2)) async -> Bool {
    let end = ContinuousClock.now + timeout
    while !pids.allSatisfy(isGone) {
        guard ContinuousClock.now < end else { return false }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return true
}
