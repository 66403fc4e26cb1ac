import AsyncHTTPClient
import Foundation
import OrbiterCore
import OrbiterLua
import OrbiterTools

// MARK: - HTTP for tools: what the policy, DNS check and pinning cost per request

enum HTTPToolBench {
    static func run(_ o: Options) async throws {
        let n = o.int("n", 2000)
        let server = try await LoopbackHTTPServer()
        let port = server.port
        let ipURL = "http://127.0.0.1:\(port)/ok"
        let unrestricted = ToolHTTPClient(.unrestricted)
        let byAddress = ToolHTTPClient(try HTTPPolicy.allowList(parsing: ["127.0.0.1:\(port)"]))
        let byName = ToolHTTPClient(try HTTPPolicy.allowList(parsing: ["localhost:\(port)"]))
        // The whole tool call: Lua yields the request, the host performs it, Lua gets the answer.
        var options = LuaRuntime.Options()
        options.access = HostAccess(http: unrestricted)
        let runtime = try await LuaRuntime.load(bundle: ScriptBundle(entry: "main.lua", modules: ["main.lua": """
            local orbiter = require "orbiter"
            orbiter.tool { name = "get", parameters = { url = "string" }, run = function(args) return orbiter.http.get(args.url).status end }
            return orbiter.agent { name = "a", model = orbiter.model { name = "m", respond = function() return "" end } }
            """]), options: options)
        let cases: [(String, @Sendable () async throws -> Void)] = [
            ("HTTPClient.shared.execute", {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: ipURL), timeout: .seconds(10))
                _ = try await response.body.collect(upTo: 1 << 20)
            }),
            ("ToolHTTPClient(.unrestricted)", { _ = try await unrestricted.perform(HTTPToolRequest(url: ipURL)) }),
            ("Lua tool: orbiter.http.get (unrestricted)", {
                _ = try await runtime.callTool("get", arguments: ["url": .string(ipURL)])
            }),
            ("allow-list 127.0.0.1:PORT", { _ = try await byAddress.perform(HTTPToolRequest(url: ipURL)) }),
            ("allow-list localhost:PORT (DNS + pinned)", {
                _ = try await byName.perform(HTTPToolRequest(url: "http://localhost:\(port)/ok"))
            }),
        ]
        var fields: [String: JSONValue] = ["scenario": "http-tool", "requests": .int(n)]
        var rows: [(String, Double, Double, Double)] = []
        for (label, body) in cases {
            for _ in 0..<min(200, n) { try await body() }  // warm: connections, clients, caches
            var samples: [Double] = []
            samples.reserveCapacity(n)
            for _ in 0..<n {
                let t0 = nowNs()
                try await body()
                samples.append(Double(nowNs() - t0) / 1e3)
            }
            samples.sort()
            let mean = samples.reduce(0, +) / Double(samples.count)
            rows.append((label, mean, percentile(samples, 50), percentile(samples, 99)))
            let key = label.lowercased().filter { $0.isLetter || $0.isNumber }
            fields["\(key)_mean_us"] = .double(mean)
            fields["\(key)_p99_us"] = .double(percentile(samples, 99))
        }
        try await server.stop()
        emit(fields)
        print("\n| GET of 2 bytes over loopback, \(n) sequential | mean µs | p50 µs | p99 µs |\n|---|---|---|---|")
        for (label, mean, p50, p99) in rows {
            print("| \(label) | \(String(format: "%.1f", mean)) | \(String(format: "%.1f", p50)) | \(String(format: "%.1f", p99)) |")
        }
    }
}
