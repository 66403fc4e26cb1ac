import CLua
import Foundation
import OrbiterCore
import OrbiterClient
import OrbiterQueue
import OrbiterWorker
import OrbiterLua
import OrbiterRedis
import Synchronization

// MARK: - Redis server statistics

enum RedisStats {
    /// `INFO commandstats` as command → calls, plus total_commands_processed.
    static func snapshot(_ client: RedisClient) async throws -> [String: Double] {
        var out: [String: Double] = [:]
        let text = try await client.send(["INFO", "all"]).string ?? ""
        for line in text.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("cmdstat_") {
                let name = line.dropFirst(8).prefix { $0 != ":" }
                if let range = line.range(of: "calls="), let calls = Double(line[range.upperBound...].prefix { $0.isNumber }) {
                    out["cmd." + name] = calls
                }
            } else if line.hasPrefix("total_commands_processed:") {
                out["total"] = Double(line.split(separator: ":")[1]) ?? 0
            } else if line.hasPrefix("used_cpu_sys:") || line.hasPrefix("used_cpu_user:") {
                // The server's CPU seconds (main thread and its others), summed as milliseconds.
                out["cpu_ms", default: 0] += (Double(line.split(separator: ":")[1]) ?? 0) * 1000
            }
        }
        return out
    }

    static func delta(_ a: [String: Double], _ b: [String: Double]) -> [String: Double] {
        var d: [String: Double] = [:]
        for (k, v) in b { let x = v - (a[k] ?? 0); if x > 0 { d[k] = x } }
        return d
    }

    static func printCommands(_ o: Options) async throws {
        let client = RedisClient(url: try RedisURL(o.string("redis-url", "redis://127.0.0.1:6379")))
        let s = try await snapshot(client)
        emit(s.mapValues { JSONValue.double($0) })
    }
}
