import Foundation
import OrbiterCore
import OrbiterTestSupport
import Testing

/// Tools that act (issue 16), driven as processes: the examples against local servers that speak
/// the real APIs' shapes, what a worker grants shipped scripts and what it refuses, MCP servers
/// from PyPI, programs and secrets in a local run.
@Suite("Tools that act (CLI)", .serialized)
struct ToolsCLITests: CLIQueueSuite {
    let env: [String: String]
    let queue: String

    init() throws { (env, queue) = try testQueue("tools") }

    static let json = ["content-type": "application/json"]

    func write(_ source: String, _ name: String = "main.lua", in folder: URL? = nil) throws -> String {
        let folder = try folder ?? temporaryFolder("orbiter-tools-cli")
        let url = folder.appendingPathComponent(name)
        try source.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func probeScript(_ body: String) -> String { TestAgents.probe(body) }

    // MARK: HTTP

    @Test("examples/weather.lua calls the Open-Meteo API shape and the model gets the weather")
    func weatherExample() async throws {
        let model = try await FakeModelServer.start()
        let api = try await FakeModelServer.start()
        defer { Task { try? await model.stop(); try? await api.stop() } }
        model.enqueue(.openAIToolCalls([(id: "call_1", name: "get_weather", arguments: #"{"city":"Paris"}"#)]),
                      .openAIReply("Partly cloudy in Paris, 12 °C."))
        api.enqueue(.error(status: 200, body: #"{"results":[{"name":"Paris","latitude":48.85341,"longitude":2.3488,"country":"France"}]}"#,
                           headers: Self.json),
                    .error(status: 200, body: #"{"current_units":{"temperature_2m":"°C","wind_speed_10m":"km/h"},"current":{"temperature_2m":12.3,"wind_speed_10m":9.7,"weather_code":2}}"#,
                           headers: Self.json))
        let r = try await OrbiterBinary.run(["run", "examples/weather.lua", "Weather in Paris?"], environment: [
            "OPENAI_BASE_URL": model.baseURL + "/v1", "OPENAI_API_KEY": "sk-test", "OPEN_METEO_URL": api.baseURL])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("Partly cloudy in Paris, 12 °C."), "\(r.stdout)")
        #expect(api.requests.map(\.path) == [
            "/v1/search?count=1&name=Paris",
            "/v1/forecast?current=temperature_2m%2Cwind_speed_10m%2Cweather_code&latitude=48.85341&longitude=2.3488",
        ])
        let toolResult = model.requests.last?.body ?? ""
        #expect(toolResult.contains("Paris, France: partly cloudy, 12.3 °C, wind 9.7 km/h"), "\(toolResult)")
    }

    @Test("a worker reaches only its allowed hosts: loopback, metadata and odd spellings are refused, also through a redirect")
    func workerAllowList() async throws {
        let api = try await FakeModelServer.start()
        defer { Task { try? await api.stop() } }
        api.enqueue(.error(status: 200, body: "fine", headers: [:]),
                    .error(status: 302, body: "", headers: ["location": "http://169.254.169.254/latest/meta-data/iam/"]))
        let port = api.port
        let worker = try OrbiterBinary.start(["start", "worker", "--queue", queue, "--worker-id", "tools-\(queue)",
                                              "--allow-host", "127.0.0.1:\(port)"], environment: env)
        defer { worker.signal(SIGKILL) }
        try await worker.waitFor { _, err in err.contains("worker tools-\(self.queue) started") }
        let urls = ["http://127.0.0.1:\(port)/ok", "http://127.0.0.1:\(port)/redirect", "http://localhost:\(port)/",
                    "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:\(port)/", "http://2130706433:\(port)/",
                    "http://0x7f.1:\(port)/", "http://10.0.0.1/", "http://[::1]:\(port)/", "http://example.com/"]
        let script = try write(probeScript("""
            local lines = {}
            for _, url in ipairs({ "\(urls.joined(separator: "\", \""))" }) do
              local ok, r = pcall(function() local x = orbiter.http.get(url, { timeout = 5 }); return x end)
              lines[#lines + 1] = ok and ("ok " .. r.status .. " " .. r.body) or ("refused " .. r)
            end
            return table.concat(lines, "\\n")
            """))
        let r = try await orbiter(["submit", script, "go", "--wait", "--queue", queue])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == urls.count, "\(r.stdout)")
        #expect(lines.first == "tool said: ok 200 fine", "\(r.stdout)")
        for line in lines.dropFirst() {
            #expect(line.contains("refused") && line.contains("policy"), "\(line)")
        }
        #expect(lines[1].contains("169.254.169.254"), "the redirect's target is named: \(lines[1])")
        #expect(api.requests.count == 2, "only the allowed URL and the redirect reached the server")
    }

    @Test("--allow-host and the other grants are refused on a trusted run, and mean what they say with --sandbox")
    func grantsOnRun() async throws {
        let folder = try temporaryFolder("orbiter-tools-cli")
        let script = try write(probeScript("return 'len ' .. #orbiter.secret('MY_TOKEN') .. ': ' .. orbiter.secret('MY_TOKEN')"), in: folder)
        let secretEnv = ["MY_TOKEN": "tok-0123456789abcdef"]
        let refused = try await OrbiterBinary.run(["run", script, "go", "--allow-host", "example.com"], environment: secretEnv)
        #expect(refused.status == 2 && refused.stderr.contains("--sandbox"), "\(refused.stderr)")
        // Trusted: the environment's value, redacted from the output.
        let trusted = try await OrbiterBinary.run(["run", script, "go"], environment: secretEnv)
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(trusted.stdout.contains("tool said: len 20: [redacted:MY_TOKEN]"), "\(trusted.stdout)")
        #expect(!(trusted.stdout + trusted.stderr).contains("0123456789abcdef"))
        // Sandboxed: only what is granted.
        let ungranted = try await OrbiterBinary.run(["run", "--sandbox", script, "go"], environment: secretEnv)
        #expect(ungranted.stdout.contains("secret 'MY_TOKEN' is not provided by this host"), "\(ungranted.stdout)")
        let granted = try await OrbiterBinary.run(["run", "--sandbox", "--secret", "MY_TOKEN", script, "go"], environment: secretEnv)
        #expect(granted.stdout.contains("[redacted:MY_TOKEN]"), "\(granted.stdout) \(granted.stderr)")
        let file = try write("# tokens\nexport MY_TOKEN=\"tok-from-the-file-1\"\n", "secrets.env", in: folder)
        _ = chmod(file, 0o600)
        let fromFile = try await OrbiterBinary.run(["run", "--sandbox", "--secrets-file", file, script, "go"])
        #expect(fromFile.stdout.contains("tool said: len 19: [redacted:MY_TOKEN]"), "\(fromFile.stdout) \(fromFile.stderr)")
        let missing = try await OrbiterBinary.run(["run", "--sandbox", "--secret", "NOT_SET_ANYWHERE", script, "go"])
        #expect(missing.status == 2 && missing.stderr.contains("--secret NOT_SET_ANYWHERE: the environment variable NOT_SET_ANYWHERE is not set"),
                "\(missing.stderr)")
        let bad = try write("MY_TOKEN\n", "bad.env", in: folder)
        let badFile = try await OrbiterBinary.run(["run", "--sandbox", "--secrets-file", bad, script, "go"])
        #expect(badFile.status == 2 && badFile.stderr.contains("bad.env:1: expected NAME=value"), "\(badFile.stderr)")
    }

    @Test("a worker refuses bad grants at start, naming the flag, the file and the field")
    func badWorkerGrants() async throws {
        let folder = try temporaryFolder("orbiter-tools-cli")
        let servers = try write(#"{"mcpServers": {"time": {"command": "x", "args": "not a list"}}}"#, "servers.json", in: folder)
        let short = try write("SHORT=abc\n", "short.env", in: folder)
        _ = chmod(short, 0o600)
        let cases: [([String], String)] = [
            (["--allow-host", "a b"], "--allow-host 'a b'"),
            (["--mcp", servers], "servers.json: mcpServers.time.args must be a list of strings"),
            (["--mcp", folder.appendingPathComponent("missing.json").path], "missing.json: cannot be read"),
            (["--secrets-file", short], "secret 'SHORT' is 3 characters"),
            (["--secret", "NOT_SET_ANYWHERE"], "--secret NOT_SET_ANYWHERE: the environment variable NOT_SET_ANYWHERE is not set"),
        ]
        for (flags, message) in cases {
            let r = try await OrbiterBinary.run(["start", "worker", "--queue", queue] + flags, environment: env)
            #expect(r.status == 2, "\(flags): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(flags): \(r.stderr)")
        }
    }

    @Test("a local run runs programs; a sandboxed one does not")
    func programs() async throws {
        let script = try write(probeScript("""
            local out = orbiter.exec { "sh", "-c", "read x; echo got $x; echo oops >&2; exit 3", stdin = "hello\\n" }
            return out.code .. "|" .. out.stdout .. "|" .. out.stderr
            """))
        let trusted = try await OrbiterBinary.run(["run", script, "go"])
        #expect(trusted.stdout.contains("tool said: 3|got hello\n|oops\n"), "\(trusted.stdout) \(trusted.stderr)")
        let sandboxed = try await OrbiterBinary.run(["run", "--sandbox", script, "go"])
        #expect(sandboxed.stdout.contains("exec is not available to shipped scripts"), "\(sandboxed.stdout)")
    }
}
