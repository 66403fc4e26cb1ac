import Foundation
import Synchronization
import OrbiterTestSupport
import Testing
@testable import OrbiterCore

/// Prices, costs and budgets in the core runner (no Redis: tenant accounts are a protocol here).
@Suite("Cost and budgets")
struct SpendingTests {
    let echo = Tool(name: "echo", description: "Echo", parameters: ["type": "object", "properties": .object([:])]) { _ in .string("ok") }

    /// A model that calls `echo` forever, each call reporting 60 + 40 tokens.
    func looping(_ count: Int = 20) -> ScriptedProvider {
        ScriptedProvider((0..<count).map { _ in
            var r = ScriptedProvider.Reply.call("echo", "{}")
            r.usage = Usage(inputTokens: 60, outputTokens: 40)
            return r
        })
    }

    func agent(_ provider: ScriptedProvider, name: String = "a", model: String = "test:m", budget: SpendingBudget? = nil) -> Agent {
        Agent(name: name, model: model, provider: provider, tools: [echo], maxSteps: 50, budget: budget)
    }

    /// 1 USD per million input tokens, 2 per million output: a 60 + 40 call costs 0.00014 USD.
    let prices = PriceTable(["test:m": ModelPrice(input: 1, output: 2)], source: "prices.json")

    func calls(_ provider: ScriptedProvider) -> Int { provider.requests.withLock { $0.count } }

    @Test("a task token budget stops the run before the call past it, naming the budget and what was spent")
    func taskTokenBudget() async throws {
        let provider = looping()
        let meter = SpendMeter(budget: SpendingBudget(tokens: 250))
        let error = await #expect(throws: OrbiterError.self) {
            _ = try await OrbiterCore.run.execute(.agent(agent(provider)), input: "go", detailed: true, meter: meter) { _ in }
        }
        #expect(error?.typeName == "BudgetExceeded")
        #expect(error?.description == "task budget of 250 tokens exceeded: 300 tokens spent; stopped before the next model call")
        #expect(calls(provider) == 3, "100 tokens a call: the third crosses 250, the fourth is never made")
        #expect(meter.usage.totalTokens == 300, "the meter keeps what the failed run spent")
    }

    @Test("a task cost budget stops the run; its cost comes from the host's prices")
    func taskCostBudget() async throws {
        let provider = looping()
        let meter = SpendMeter(prices: prices, budget: SpendingBudget(cost: 0.0005))
        let error = await #expect(throws: OrbiterError.self) {
            _ = try await OrbiterCore.run.execute(.agent(agent(provider)), input: "go", detailed: false, meter: meter) { _ in }
        }
        #expect(error?.typeName == "BudgetExceeded")
        #expect(error?.description.contains("task budget of 0.0005 USD exceeded: 0.00056 USD spent") == true, "\(String(describing: error))")
        #expect(calls(provider) == 4)
        #expect(meter.cost.map { abs($0 - 0.00056) < 1e-12 } == true)
    }

    @Test("an agent's budget limits its own calls only, in a workflow")
    func agentBudgetInASwarm() async throws {
        let first = ScriptedProvider([.text("draft")]), second = looping()
        let swarm = Swarm(name: "s", agents: [.agent(agent(first, name: "writer")),
                                                 .agent(agent(second, name: "editor", budget: SpendingBudget(tokens: 150)))])
        let error = await #expect(throws: OrbiterError.self) {
            _ = try await OrbiterCore.run.execute(.swarm(swarm), input: "go", detailed: false) { _ in }
        }
        #expect(error?.description.hasPrefix("agent 'editor' budget of 150 tokens exceeded: 200 tokens spent") == true, "\(String(describing: error))")
        #expect(calls(second) == 2)
    }

    @Test("a cost budget with no price for the model is refused before any call, never counted as free")
    func costBudgetWithoutPrice() async throws {
        for meter in [SpendMeter(budget: SpendingBudget(cost: 1)),
                      SpendMeter(prices: PriceTable(["openai:gpt-4o": ModelPrice(input: 1, output: 1)], source: "p.json"), budget: SpendingBudget(cost: 1))] {
            let provider = looping()
            let error = await #expect(throws: OrbiterError.self) {
                _ = try await OrbiterCore.run.execute(.agent(agent(provider)), input: "go", detailed: false, meter: meter) { _ in }
            }
            #expect(error?.typeName == "ConfigurationError")
            #expect(error?.description.contains("cannot be kept") == true)
            #expect(error?.description.contains("'test:m'") == true)
            #expect(calls(provider) == 0)
        }
    }

    @Test("an unknown model's cost is null with the model named, never 0")
    func unknownModelCostIsNull() async throws {
        let meter = SpendMeter(prices: prices)
        _ = try await OrbiterCore.run.execute(.agent(Agent(name: "a", model: "other:x", provider: ScriptedProvider([.text("hi")]))),
                                              input: "go", detailed: false, meter: meter) { _ in }
        #expect(meter.cost == nil)
        #expect(meter.report["cost"] == .null)
        #expect(meter.report["unpriced_models"] == ["other:x"])
        #expect(meter.report["models"]?["other:x"]?["usage"]?["total_tokens"] == 2)
    }

    @Test("a shared account is asked before each call and charged after it")
    func accountBudget() async throws {
        let account = CountingAccount(tokenLimit: 250)
        let provider = looping()
        let error = await #expect(throws: OrbiterError.self) {
            _ = try await OrbiterCore.run.execute(.agent(agent(provider)), input: "go", detailed: false,
                                                  meter: SpendMeter(prices: prices, account: account)) { _ in }
        }
        #expect(error?.description.hasPrefix("tenant 't' budget of 250 tokens per day (UTC) exceeded: 300 tokens spent") == true,
                "\(String(describing: error))")
        #expect(account.charges.withLock { $0.count } == 3)
        #expect(account.charges.withLock { $0.allSatisfy { $0.cost.map { abs($0 - 0.00014) < 1e-12 } == true } })
    }

    @Test("costs: OpenAI counts cached input inside the input, Anthropic apart")
    func cachedInputPricing() {
        let price = ModelPrice(input: 10, output: 20, cacheRead: 1, cacheWrite: 12)
        let usage = Usage(inputTokens: 1000, outputTokens: 100, cacheReadInputTokens: 400, cacheCreationInputTokens: 0)
        #expect(abs(price.cost(of: usage, provider: "openai") - (600 * 10 + 100 * 20 + 400 * 1) / 1e6) < 1e-12)
        #expect(abs(price.cost(of: usage, provider: "anthropic") - (1000 * 10 + 100 * 20 + 400 * 1) / 1e6) < 1e-12)
        let written = Usage(inputTokens: 10, outputTokens: 0, cacheCreationInputTokens: 1000)
        #expect(abs(price.cost(of: written, provider: "anthropic") - (10 * 10 + 1000 * 12) / 1e6) < 1e-12)
        #expect(ModelPrice(input: 10, output: 20).cost(of: Usage(inputTokens: -5, outputTokens: -5), provider: "x") == 0,
                "negative counts from a script's model cost nothing, never a credit")
    }

    @Test("a bad price table names the file and the field", arguments: [
        (#"[1, 2]"#, "must be a JSON object"),
        (#"{"gpt-4o": {"input": 1, "output": 1}}"#, "key 'gpt-4o' must be written \"provider:model\""),
        (#"{"openai:gpt-4o": 3}"#, "'openai:gpt-4o' must be an object"),
        (#"{"openai:gpt-4o": {"input": "2.5", "output": 1}}"#, "'openai:gpt-4o'.input must be a number"),
        (#"{"openai:gpt-4o": {"input": -1, "output": 1}}"#, "'openai:gpt-4o'.input must be a number"),
        (#"{"openai:gpt-4o": {"input": 1}}"#, "'openai:gpt-4o'.output is missing"),
        (#"{"openai:gpt-4o": {"input": 1, "output": 1, "cached": 1}}"#, "'openai:gpt-4o'.cached is not a price field"),
        (#"{"openai:gpt-4o": {"input": 1e999, "output": 1}}"#, "prices.json"),
        (#"{"openai:gpt-4o": "#, "not valid JSON"),
    ])
    func badPriceTable(_ text: String, _ expected: String) throws {
        let folder = try temporaryFolder("prices", files: ["prices.json": text])
        let path = folder.appendingPathComponent("prices.json").path
        let error = #expect(throws: OrbiterError.self) { try PriceTable.load(file: path) }
        #expect(error?.description.hasPrefix(path + ": ") == true, "\(String(describing: error))")
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("the example price table loads; comments are skipped")
    func examplePriceTable() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/prices.example.json").path
        let table = try PriceTable.load(file: path)
        #expect(table.price(for: "openai:gpt-4o") != nil)
        #expect(table.prices.keys.allSatisfy { !$0.hasPrefix("_") })
    }

    @Test("budgets: negative, wrong types, huge and unknown fields are refused naming the field", arguments: [
        (#"{"tokens": -1}"#, "budget.tokens must be 0 or more tokens, got -1"),
        (#"{"cost": -0.5}"#, "budget.cost must be 0 or more US dollars"),
        (#"{"tokens": "lots"}"#, "budget.tokens must be a whole number"),
        (#"{"cost": "1"}"#, "budget.cost must be a number"),
        (#"{"tokens": 1e300}"#, "budget.tokens must be a whole number"),
        (#"{"tokens": 2.5}"#, "budget.tokens must be a whole number"),
        (#"{"cost": 1e999}"#, "budget.cost"),
        (#"{"dollars": 1}"#, "budget.dollars is not a budget field"),
        (#""ten""#, "budget must be a table"),
    ])
    func badBudgets(_ text: String, _ expected: String) throws {
        let json = try JSONValue.parse(text)
        let error = #expect(throws: OrbiterError.self) { try SpendingBudget(json: json, field: "budget") }
        #expect(error?.description.contains(expected) == true, "\(String(describing: error))")
    }

    @Test("a huge budget is a budget that is never reached, and 0 allows no call")
    func hugeAndZeroBudgets() async throws {
        let huge = try SpendingBudget(json: ["tokens": .int(Int.max), "cost": 1e300], field: "budget")
        let provider = ScriptedProvider([.text("done")])
        _ = try await OrbiterCore.run.execute(.agent(agent(provider)), input: "go", detailed: false,
                                              meter: SpendMeter(prices: prices, budget: huge)) { _ in }
        let none = looping()
        await #expect(throws: OrbiterError.self) {
            _ = try await OrbiterCore.run.execute(.agent(agent(none)), input: "go", detailed: false,
                                                  meter: SpendMeter(budget: SpendingBudget(tokens: 0))) { _ in }
        }
        #expect(calls(none) == 0)
    }

    @Test("usage sums saturate instead of trapping")
    func usageSaturates() {
        let big = Usage(inputTokens: Int.max, outputTokens: Int.max)
        #expect(big.totalTokens == Int.max)
        #expect((big + big).inputTokens == Int.max)
    }

    @Test("a checkpoint carries the spend by agent and model; a resumed run's budget counts it")
    func checkpointCarriesSpend() async throws {
        let entries = [SpendEntry(agent: "a", model: "test:m", usage: Usage(inputTokens: 200, outputTokens: 50))]
        let checkpoint = Checkpoint(messages: [.user("go")], usage: Usage(inputTokens: 200, outputTokens: 50), steps: 2)
        var withSpend = checkpoint
        withSpend.spend = entries
        let back = try Checkpoint(json: try JSONValue.parse(withSpend.json.jsonString))
        #expect(back.spend == entries)
        let provider = looping()
        let meter = SpendMeter(budget: SpendingBudget(tokens: 300))
        await #expect(throws: OrbiterError.self) {
            _ = try await OrbiterCore.run.execute(.agent(agent(provider)), input: "go", detailed: false, resume: back, meter: meter) { _ in }
        }
        #expect(calls(provider) == 1, "250 spent before the resume: one more call crosses 300")
    }
}

/// A `SpendingAccount` in memory: a token limit and the charges it got.
final class CountingAccount: SpendingAccount {
    let tokenLimit: Int
    let charges = Mutex<[(tokens: Int, cost: Double?)]>([])
    init(tokenLimit: Int) { self.tokenLimit = tokenLimit }

    func standing() async throws -> AccountStanding {
        let spent = charges.withLock { $0.reduce(0) { $0 + $1.tokens } }
        return AccountStanding(name: "tenant 't'", period: "per day (UTC)", costLimit: nil, tokenLimit: tokenLimit,
                               spentCost: 0, spentTokens: spent)
    }

    func charge(tokens: Int, cost: Double?) async throws { charges.withLock { $0.append((tokens, cost)) } }
}
