import AsyncHTTPClient
import Foundation
import NIOCore
import OrbiterClient
import OrbiterCore
import OrbiterLua
import OrbiterQueue
import OrbiterRedis

// MARK: - orbiter serve: submit rate and event fan-out

/// `orbiter-bench api`: an `orbiter serve` process (its own CPU measured from /proc) on a fresh
/// queue, no worker. Submit rate over HTTP one at a time and with 16 outstanding, against
/// `orbiter submit` processes one after another (the CLI) and in-process `distributed()` (the
/// library). Then SSE fan-out: `followers` streams on one task while `events` events are
/// appended to its stream 20 ms apart; reports delivery p50/p99 (append → a follower has it)
/// and the server's CPU during the fan-out.
enum APIBench {
    static func run(_ o: Options) async throws {
        let orbiter = o.string("orbiter", ".build/release/orbiter")
        let url = o.string("redis-url", "redis://127.0.0.1:6379")
        let queue = o.string("queue", "api-bench-\(getpid())")
        let n = o.int("n", 300), cliN = o.int("cli-n", 20), followers = o.int("followers", 1000), events = o.int("events", 50)
        let script = try writeScript("api.lua", Scripts.noop)
        let (server, port) = try startServe(orbiter, url: url, queue: queue)
        defer { server.terminate() }
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = followers + 32
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let base = "http://127.0.0.1:\(port)"
        let body = ByteBuffer(string: JSONValue.object(["script": .string(Scripts.noop), "input": "hi"]).jsonString)
        func submit() async throws -> String {
            var request = HTTPClientRequest(url: base + "/v1/tasks")
            request.method = .POST
            request.body = .bytes(body)
            let response = try await http.execute(request, timeout: .seconds(30))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
            guard response.status.code == 201, let id = try JSONValue.parse(text)["task_id"]?.stringValue else { throw BenchError("submit: \(text)") }
            return id
        }
        var row: [String: JSONValue] = ["bench": "api", "tasks": .int(n)]
        for outstanding in [1, 16] {
            let next = Shared(0)
            let t0 = nowNs()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<outstanding {
                    group.addTask {
                        while next.withLock({ v -> Bool in defer { v += 1 }; return v < n }) { _ = try await submit() }
                    }
                }
                try await group.waitForAll()
            }
            row["api_\(outstanding)_tasks_per_s"] = .double((Double(n) / (Double(nowNs() - t0) / 1e9)).rounded())
        }
        let t1 = nowNs()
        for _ in 0..<cliN {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: orbiter)
            p.arguments = ["submit", script, "hi", "--queue", queue, "--redis-url", url]
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw BenchError("orbiter submit exited \(p.terminationStatus)") }
        }
        row["cli_process_tasks_per_s"] = .double((Double(cliN) / (Double(nowNs() - t1) / 1e9) * 10).rounded() / 10)
        let broker = try TaskBroker(redisURL: url, queue: queue)
        let runtime = try LuaRuntime(file: script)
        let root = try runtime.root()
        let t2 = nowNs()
        for _ in 0..<n { _ = try await distributed(root, "hi", broker: broker, bundle: runtime.bundle) }
        row["library_1_tasks_per_s"] = .double((Double(n) / (Double(nowNs() - t2) / 1e9)).rounded())

        // Fan-out: every follower reads the same task's stream through the server.
        let id = try await submit()
        let latencies = Shared<[Double]>([])
        let connected = Shared(0)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<followers {
                group.addTask {
                    let response = try await http.execute(HTTPClientRequest(url: base + "/v1/tasks/\(id)/events"), timeout: .seconds(120))
                    connected.withLock { $0 += 1 }
                    var pending = ""
                    for try await chunk in response.body {
                        let arrived = nowNs()
                        pending += String(buffer: chunk)
                        while let end = pending.range(of: "\n\n") {
                            let block = pending[..<end.lowerBound]
                            pending = String(pending[end.upperBound...])
                            guard let data = block.split(separator: "\n").first(where: { $0.hasPrefix("data: ") }),
                                  let event = try? JSONValue.parse(String(data.dropFirst(6))),
                                  let sent = event["text"]?.stringValue.flatMap(UInt64.init) else { continue }
                            latencies.withLock { $0.append(Double(arrived - sent) / 1e6) }
                        }
                    }
                }
            }
            while connected.withLock({ $0 }) < followers { try await Task.sleep(for: .milliseconds(20)) }
            try await Task.sleep(for: .milliseconds(200))
            let cpu0 = cpuMs(server.processIdentifier), w0 = nowNs()
            let key = broker.keys.events(id)
            for _ in 0..<events {
                let event = StreamEvent.text(TextEvent(text: String(nowNs()), agentName: "bench"))
                _ = try await broker.client.send(["XADD", key, "*", "event", event.jsonString])
                try await Task.sleep(for: .milliseconds(20))
            }
            let end = StreamEvent.status(StatusEvent(status: .completed, agentName: "bench", message: ""))
            _ = try await broker.client.send(["XADD", key, "*", "event", end.jsonString])
            try await group.waitForAll()
            let wall = Double(nowNs() - w0) / 1e6
            row["fanout_server_cpu_percent"] = .double(((cpuMs(server.processIdentifier) - cpu0) / wall * 1000).rounded() / 10)
        }
        let sorted = latencies.withLock { $0 }.sorted()
        row["fanout_followers"] = .int(followers)
        row["fanout_events_delivered"] = .int(sorted.count)
        row["fanout_delivery_p50_ms"] = .double((percentile(sorted, 50) * 10).rounded() / 10)
        row["fanout_delivery_p99_ms"] = .double((percentile(sorted, 99) * 10).rounded() / 10)
        row["server_rss_mib"] = .double(statusMiB(server.processIdentifier, "VmHWM").rounded())
        try await http.shutdown()
        try await BulkSubmitBench.deleteQueue(broker)
        emit(row)
    }

    /// `orbiter serve --port 0` (open, loopback) and the port it printed.
    static func startServe(_ orbiter: String, url: String, queue: String) throws -> (Process, Int) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: orbiter)
        p.arguments = ["serve", "--port", "0", "--queue", queue, "--redis-url", url, "--log-level", "warning"]
        let err = Pipe()
        p.standardError = err
        try p.run()
        var text = ""
        while !text.contains("listening on") {
            let data = err.fileHandleForReading.availableData
            if data.isEmpty { throw BenchError("orbiter serve did not start: \(text)") }
            text += String(decoding: data, as: UTF8.self)
        }
        // "orbiter serve: listening on http://127.0.0.1:PORT (...)"
        let address = text.components(separatedBy: "listening on http://").last?.prefix { $0 != " " && $0 != "\n" } ?? ""
        guard let port = Int(address.split(separator: ":").last ?? "") else {
            p.terminate()
            throw BenchError("no port in: \(text)")
        }
        return (p, port)
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
