import Foundation
import Logging
import OrbiterCore
@testable import OrbiterClient
@testable import OrbiterQueue
@testable import OrbiterWorker
import OrbiterLua
import OrbiterModels
import OrbiterRedis
import OrbiterTestSupport
import Testing

/// Cost and budgets on live workers: task, agent and tenant budgets stop runs (not retried),
/// results carry usage and cost, `queue stats` counts tokens and cost per model, and hostile
/// budgets in payloads are refused naming the field.
@Suite("Budgets on workers", .serialized)
struct BudgetWorkerTests {
    static func spender(name: String = "spender", budget: String = "nil") -> String { TestAgents.spender(name: name, budget: budget) }

    /// 1 USD per million input tokens, 2 per million output: one 60 + 40 call costs 0.00014 USD.
    static let prices = PriceTable(["lua:m": ModelPrice(input: 1, output: 2)], source: "prices.json")

    @discardableResult
    func startWorker(_ fixture: DistributedFixture, prices: PriceTable? = BudgetWorkerTests.prices, logger: Logger? = nil,
                     concurrency: Int = 4) throws -> Worker {
        var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue, concurrency: concurrency,
                                                workerID: "w-\(UUID().uuidString.prefix(6))", heartbeatTTL: 3, drainTimeout: .seconds(5),
                                                luaOptions: .shipped())
        configuration.prices = prices
        if let logger { configuration.logger = logger }
        return try fixture.start(configuration)
    }

    /// The task's state once finished and the error_type of its error events.
    func failure(_ handle: TaskHandle) async throws -> (TaskResult, [String]) {
        let (events, _) = await collect(handle.stream())
        let status = try #require(try await finishedStatus(handle))
        return (status, events.compactMap { if case .error(let e) = $0 { e.errorType } else { nil } })
    }

    @Test("a task token budget fails the task with BudgetExceeded, once, naming the budget and the amount spent")
    func taskTokenBudget() async throws {
        try await withDistributedFixture { fixture in
            try startWorker(fixture)
            let (_, root) = try load(try temporaryScript(Self.spender()))
            let handle = try await distributed(root, "go", redisURL: fixture.redisURL, queue: fixture.queue, maxRetries: 3,
                                               budget: SpendingBudget(tokens: 250))
            let (status, types) = try await failure(handle)
            #expect(status.status == .failed)
            #expect(status.attempts == 1, "not retried")
            #expect(types == ["BudgetExceeded"])
            #expect(status.error == "task budget of 250 tokens exceeded: 300 tokens spent; stopped before the next model call")
        }
    }

    @Test("a task cost budget fails the task; a completed task's result has usage and cost; queue stats count them per model")
    func taskCostBudgetAndResultCost() async throws {
        try await withDistributedFixture { fixture in
            try startWorker(fixture)
            let broker = try fixture.broker()
            let (_, root) = try load(try temporaryScript(Self.spender()))
            let over = try await distributed(root, "go", broker: broker, budget: SpendingBudget(cost: 0.0005))
            let (status, types) = try await failure(over)
            #expect(types == ["BudgetExceeded"])
            #expect(status.attempts == 1)
            #expect(status.error?.hasPrefix("task budget of 0.0005 USD exceeded: 0.00056 USD spent") == true, "\(status.error ?? "")")

            let within = try await distributed(root, "once", broker: broker, budget: SpendingBudget(tokens: 1000, cost: 1))
            let result = try await within.result(timeout: .seconds(20))
            #expect(result["output"] == "done")
            #expect(result["usage"]?["total_tokens"] == 200)
            #expect(result["cost"]?.doubleValue.map { abs($0 - 0.00028) < 1e-12 } == true, "\(result)")
            #expect(result["models"]?["lua:m"]?["usage"]?["input_tokens"] == 120)
            #expect(result["unpriced_models"] == nil)

            // 4 calls of the failed task + 2 of the completed one, counted once each at finish.
            let models = try await broker.modelUsage()
            #expect(models.map(\.model) == ["lua:m"])
            #expect(models.first?.tasks == 2)
            #expect(models.first?.inputTokens == 360)
            #expect(models.first?.outputTokens == 240)
            #expect(models.first.map { abs($0.cost - 0.00084) < 1e-9 } == true, "\(models)")
        }
    }

    @Test("an agent's Lua budget stops it on a worker")
    func luaAgentBudget() async throws {
        try await withDistributedFixture { fixture in
            try startWorker(fixture, prices: nil)
            let (_, root) = try load(try temporaryScript(Self.spender(name: "capped", budget: "{ tokens = 150 }")))
            #expect(root.toDict()["budget"] == ["tokens": 150], "the budget travels in to_dict")
            let (status, types) = try await failure(try await distributed(root, "go", redisURL: fixture.redisURL, queue: fixture.queue))
            #expect(types == ["BudgetExceeded"])
            #expect(status.error?.hasPrefix("agent 'capped' budget of 150 tokens exceeded: 200 tokens spent") == true, "\(status.error ?? "")")
            #expect(status.attempts == 1)
        }
    }

    @Test("a tenant's daily budget is shared by its tasks on two workers; they stop once it is spent")
    func tenantBudgetSharedByTwoWorkers() async throws {
        try await withDistributedFixture { fixture in
            // One task at a time each, so the two tasks run on the two workers at once.
            try startWorker(fixture, concurrency: 1)
            try startWorker(fixture, concurrency: 1)
            let broker = try fixture.broker()
            let budgets = TenantBudgets(client: broker.client)
            let tenant = "acme-" + UUID().uuidString.prefix(6).lowercased()
            #expect(try await budgets.set(tenant, costPerDay: 0.002, tokensPerDay: nil))
            let (_, root) = try load(try temporaryScript(Self.spender()))
            let a = try await distributed(root, "go", broker: broker, tenant: tenant)
            let b = try await distributed(root, "go", broker: broker, tenant: tenant)
            for handle in [a, b] {
                let (status, types) = try await failure(handle)
                #expect(types == ["BudgetExceeded"])
                #expect(status.attempts == 1)
                #expect(status.error?.hasPrefix("tenant '\(tenant)' budget of 0.002 USD per day (UTC) exceeded: ") == true, "\(status.error ?? "")")
            }
            let workers = Set([try await a.status()?.workerID, try await b.status()?.workerID].compactMap { $0 })
            #expect(workers.count == 2, "each worker ran one of them")
            let spent = try await budgets.standing(tenant)
            // Reached, and overshot by at most the calls in flight (one per task) when it ran out.
            #expect(spent.spentCost >= 0.002)
            #expect(spent.spentCost <= 0.002 + 2 * 0.00014 + 1e-9, "\(spent)")
            #expect(spent.spentTokens == Int((spent.spentCost / 0.00014).rounded()) * 100)
            // A third task of the tenant stops before its first call.
            let c = try await distributed(root, "go", broker: broker, tenant: tenant)
            let (_, third) = try await failure(c)
            #expect(third == ["BudgetExceeded"])
            #expect(try await budgets.standing(tenant).spentTokens == spent.spentTokens, "no call was made")
            #expect(try await budgets.list().contains { $0.tenant == tenant && $0.costPerDay == 0.002 })
            #expect(try await budgets.remove(tenant))
            #expect(try await !budgets.remove(tenant))
        }
    }

    @Test("a model without a price: cost null, the model named, one warning per model; a cost budget then fails clearly")
    func unknownModelCost() async throws {
        try await withDistributedFixture { fixture in
            let logs = LogLines()
            try startWorker(fixture, prices: PriceTable(["openai:gpt-4o": ModelPrice(input: 1, output: 1)], source: "prices.json"),
                            logger: logs.logger(level: .warning))
            let (_, root) = try load(try temporaryScript(Self.spender()))
            let result = try await distributed(root, "once", redisURL: fixture.redisURL, queue: fixture.queue).result(timeout: .seconds(20))
            #expect(result["cost"] == .null)
            #expect(result["unpriced_models"] == ["lua:m"])
            #expect(result["usage"]?["total_tokens"] == 200)
            try await eventually("the warning") { logs.text.contains("no price for model 'lua:m' in prices.json") }
            let handle = try await distributed(root, "go", redisURL: fixture.redisURL, queue: fixture.queue, budget: SpendingBudget(cost: 1))
            let (status, types) = try await failure(handle)
            #expect(types == ["ConfigurationError"])
            #expect(status.error?.contains("prices.json has no price for 'lua:m'") == true, "\(status.error ?? "")")
            #expect(status.attempts == 1)
            let models = try await fixture.broker().modelUsage()
            #expect(models.first?.unpricedTasks == 1)
            #expect(models.first?.json["cost"] == .null)
        }
    }

    @Test("usage from a real provider over HTTP is priced by the worker's table")
    func providerUsageIsPriced() async throws {
        let server = try await FakeModelServer.start()
        defer { Task { try? await server.stop() } }
        server.enqueue(.openAIReply("hello", promptTokens: 1000, completionTokens: 500))
        try await withDistributedFixture { fixture in
            let providers = BuiltinProviders.registry(environment: ["OPENAI_BASE_URL": server.baseURL + "/v1", "OPENAI_API_KEY": "sk-test"])
            var configuration = WorkerConfiguration(redisURL: fixture.redisURL, queue: fixture.queue)
            configuration.providers = providers
            configuration.prices = PriceTable(["openai:gpt-4o": ModelPrice(input: 2.5, output: 10)], source: "prices.json")
            try fixture.start(configuration)
            var options = LuaRuntime.Options()
            options.providers = providers
            let root = try LuaRuntime(file: try temporaryScript(#"return orbiter.agent { name = "remote", model = "openai:gpt-4o" }"#),
                                      options: options).root()
            let result = try await distributed(root, "hi", redisURL: fixture.redisURL, queue: fixture.queue).result(timeout: .seconds(20))
            #expect(result["output"] == "hello")
            #expect(result["cost"]?.doubleValue.map { abs($0 - (1000 * 2.5 + 500 * 10) / 1e6) < 1e-12 } == true, "\(result)")
        }
    }

    @Test("hostile budgets and tenants in a payload fail the task naming the field; the worker goes on", arguments: [
        (#"{"tokens": "lots"}"#, "budget.tokens must be a whole number"),
        (#"{"tokens": -5}"#, "budget.tokens must be 0 or more"),
        (#"{"cost": 1e308, "tokens": 1e300}"#, "budget.tokens must be a whole number"),
        (#""unlimited""#, "budget must be a table"),
    ])
    func hostileBudgets(_ budget: String, _ expected: String) async throws {
        try await withDistributedFixture { fixture in
            try startWorker(fixture)
            let broker = try fixture.broker()
            let (runtime, root) = try load(try temporaryScript(Self.spender()))
            var payload = TaskPayload(node: root.toDict(), input: "once", bundle: runtime.bundle.sha256).json.objectValue ?? [:]
            payload["budget"] = try JSONValue.parse(budget)
            let id = try await submitRaw(broker, payload: JSONValue.object(payload).jsonString, bundle: runtime.bundle)
            let status = try #require(try await finishedStatus(try broker.handle(for: id)))
            #expect(status.status == .failed)
            #expect(status.error?.contains(expected) == true, "\(status.error ?? "")")
            // The worker goes on.
            let ok = try await distributed(root, "once", broker: broker).result(timeout: .seconds(20))
            #expect(ok["output"] == "done")
        }
    }

    @Test("payload fields: budget and tenant round-trip, and bad ones are refused naming the field")
    func payloadFields() throws {
        let payload = TaskPayload(node: ["type": "agent", "name": "a", "model": "lua:m"], input: "x",
                                  budget: SpendingBudget(tokens: 10, cost: 0.5), tenant: "acme")
        let back = try TaskPayload(jsonText: payload.json.jsonString)
        #expect(back.budget == SpendingBudget(tokens: 10, cost: 0.5))
        #expect(back.tenant == "acme")
        var json = payload.json.objectValue ?? [:]
        for (tenant, expected) in [(JSONValue.int(7), "field 'tenant' must be a string"), (.string("a b"), "invalid tenant name 'a b'"),
                                   (.string(String(repeating: "x", count: 65)), "invalid tenant name")] {
            json["tenant"] = tenant
            let error = #expect(throws: DistributedError.self) { try TaskPayload(jsonText: JSONValue.object(json).jsonString) }
            #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
        }
    }

    /// Stores a task with a payload text as it is (bypassing the client's checks).
    func submitRaw(_ broker: TaskBroker, payload: String, bundle: ScriptBundle) async throws -> String {
        let id = TaskID.make(), sha = bundle.sha256
        _ = try await broker.client.run(QueueScripts.submit,
                                        keys: [broker.keys.task(id), broker.keys.stream, broker.keys.index,
                                               broker.keys.bundle(sha), broker.keys.idempotency(nil)],
                                        args: [id, payload, bundle.jsonString, String(TaskBroker.nowMs()), sha, 3600, 0, "", 3600, "", "{}"])
        return id
    }
}
