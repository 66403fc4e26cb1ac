import Synchronization

/// What a run spent, by agent and model, and the limits it must stay within: the run's own
/// budget, each agent's `budget`, and a shared `SpendingAccount` (a tenant's). The host makes one
/// per run (`Run.execute(meter:)`) and reads it afterwards, also when the run failed.
///
/// Checked before each model call (`beforeCall`) and told after it (`record`), so a run stops
/// at most one model call past any of its budgets with `BudgetExceeded`.
public final class SpendMeter: Sendable {
    /// The host's prices; `nil`: no costs known.
    public let prices: PriceTable?
    /// The run's budget (a task's `--max-tokens-total`, `--max-cost`).
    public let budget: SpendingBudget
    public let account: (any SpendingAccount)?
    private let tallies = Mutex<[SpendEntry.Key: Usage]>([:])

    public init(prices: PriceTable? = nil, budget: SpendingBudget = SpendingBudget(), account: (any SpendingAccount)? = nil) {
        self.prices = prices
        self.budget = budget
        self.account = account
    }

    // MARK: What was spent

    /// Every (agent, model) pair's usage, sorted.
    public var entries: [SpendEntry] {
        tallies.withLock { $0 }.map { SpendEntry(agent: $0.key.agent, model: $0.key.model, usage: $0.value) }
            .sorted { ($0.model, $0.agent) < ($1.model, $1.agent) }
    }

    /// Usage summed per model.
    public var byModel: [String: Usage] {
        tallies.withLock { tallies in
            var sums: [String: Usage] = [:]
            for (key, usage) in tallies { sums[key.model, default: .zero] += usage }
            return sums
        }
    }

    /// Usage of every model call so far.
    public var usage: Usage { tallies.withLock { $0.values.reduce(.zero, +) } }

    /// Models used without a price in the table (or any, without a table), sorted.
    public var unpricedModels: [String] {
        byModel.keys.filter { prices?.price(for: $0) == nil }.sorted()
    }

    /// What the run cost; `nil` when a model it used has no price (never a silent 0).
    public var cost: Double? { cost(of: byModel) }

    /// `{"cost": USD or null, "models": {model: {"usage", "cost"}}}`, plus `unpriced_models`
    /// when some have no price: what a task's result carries next to `usage`.
    public var report: JSONValue {
        let models = byModel
        var perModel: [String: JSONValue] = [:]
        for (model, usage) in models {
            perModel[model] = ["usage": usage.json, "cost": prices?.cost(of: usage, model: model).map(JSONValue.double) ?? .null]
        }
        var d: [String: JSONValue] = ["cost": cost(of: models).map(JSONValue.double) ?? .null, "models": .object(perModel)]
        let unpriced = unpricedModels
        if !unpriced.isEmpty { d["unpriced_models"] = .array(unpriced.map(JSONValue.string)) }
        return .object(d)
    }

    private func cost(of models: [String: Usage]) -> Double? {
        var sum = 0.0
        for (model, usage) in models {
            guard let c = prices?.cost(of: usage, model: model) else { return nil }
            sum += c
        }
        return sum
    }

    /// Adds what a checkpoint recorded (a resumed run's earlier spend).
    func seed(_ entries: [SpendEntry]) {
        tallies.withLock { tallies in
            for e in entries { tallies[SpendEntry.Key(agent: e.agent, model: e.model), default: .zero] += e.usage }
        }
    }

    // MARK: Limits

    /// Throws `BudgetExceeded` when the run, `agent` or the account has spent its budget, and a
    /// `ConfigurationError` when a cost budget applies but `model` (or one already used) has no price.
    func beforeCall(agent: String, model: String, agentBudget: SpendingBudget?) async throws {
        let snapshot = tallies.withLock { $0 }
        let runTotal = snapshot.values.reduce(Usage.zero, +)
        try check(budget, scope: "task", spent: runTotal, costOf: { self.costOf(snapshot) }, model: model)
        if let agentBudget, !agentBudget.isEmpty {
            let own = snapshot.filter { $0.key.agent == agent }
            try check(agentBudget, scope: "agent '\(agent)'", spent: own.values.reduce(Usage.zero, +),
                      costOf: { self.costOf(own) }, model: model)
        }
        guard let account else { return }
        let standing = try await account.standing()
        if let limit = standing.tokenLimit, standing.spentTokens >= limit {
            throw OrbiterError.budgetExceeded(scope: standing.name, limit: "\(limit) tokens \(standing.period)",
                                              spent: "\(standing.spentTokens) tokens")
        }
        if let limit = standing.costLimit {
            try requirePrice(model, for: "\(standing.name)'s cost budget (\(formatUSD(limit)) USD \(standing.period))")
            if standing.spentCost >= limit {
                throw OrbiterError.budgetExceeded(scope: standing.name, limit: "\(formatUSD(limit)) USD \(standing.period)",
                                                  spent: "\(formatUSD(standing.spentCost)) USD")
            }
        }
    }

    /// Records one model call's usage and charges the account with it. A call that reported no
    /// tokens (most Lua models) costs nothing and is not recorded: no checkpoint, counter or
    /// account grows for it.
    func record(agent: String, model: String, usage: Usage) async throws {
        let usage = usage.clamped
        guard usage != .zero else { return }
        tallies.withLock { $0[SpendEntry.Key(agent: agent, model: model), default: .zero] += usage }
        guard let account else { return }
        try await account.charge(tokens: usage.totalTokens, cost: prices?.cost(of: usage, model: model))
    }

    private func check(_ budget: SpendingBudget, scope: String, spent: Usage, costOf: () -> (cost: Double?, unpriced: String?),
                       model: String) throws {
        if let limit = budget.tokens, spent.totalTokens >= limit {
            throw OrbiterError.budgetExceeded(scope: scope, limit: "\(limit) tokens", spent: "\(spent.totalTokens) tokens")
        }
        guard let limit = budget.cost else { return }
        let what = "the \(scope)'s cost budget (\(formatUSD(limit)) USD)"
        try requirePrice(model, for: what)
        let (cost, unpriced) = costOf()
        guard let cost else { try requirePrice(unpriced ?? model, for: what); return }
        if cost >= limit {
            throw OrbiterError.budgetExceeded(scope: scope, limit: "\(formatUSD(limit)) USD", spent: "\(formatUSD(cost)) USD")
        }
    }

    private func costOf(_ tallies: [SpendEntry.Key: Usage]) -> (cost: Double?, unpriced: String?) {
        var sum = 0.0
        for (key, usage) in tallies {
            guard let c = prices?.cost(of: usage, model: key.model) else { return (nil, key.model) }
            sum += c
        }
        return (sum, nil)
    }

    /// A cost budget cannot be kept without a price: refused rather than treated as free.
    private func requirePrice(_ model: String, for what: String) throws {
        guard let prices else {
            throw OrbiterError.invalidConfiguration(
                "\(what) cannot be kept: this host has no price table (--prices FILE), so the cost of '\(model)' is unknown")
        }
        guard prices.price(for: model) != nil else {
            throw OrbiterError.invalidConfiguration(
                "\(what) cannot be kept: \(prices.source) has no price for '\(model)'; add one or drop the cost budget")
        }
    }
}

/// One agent's usage of one model, as a checkpoint keeps it.
public struct SpendEntry: Sendable, Equatable {
    public var agent: String
    public var model: String
    public var usage: Usage

    struct Key: Hashable, Sendable {
        var agent: String
        var model: String
    }

    public init(agent: String, model: String, usage: Usage) {
        self.agent = agent
        self.model = model
        self.usage = usage
    }

    var json: JSONValue { ["agent": .string(agent), "model": .string(model), "usage": usage.json] }

    init(json: JSONValue) throws {
        guard let agent = json["agent"]?.stringValue, let model = json["model"]?.stringValue, json["usage"]?.objectValue != nil else {
            throw OrbiterError.invalidConfiguration("checkpoint 'spend' entries must have 'agent', 'model' and 'usage'")
        }
        self.init(agent: agent, model: model, usage: Usage(json: json["usage"]).clamped)
    }
}

extension Usage {
    /// Negative counts (a script's model may report anything) as zero.
    var clamped: Usage {
        Usage(inputTokens: max(0, inputTokens), outputTokens: max(0, outputTokens), totalTokens: max(0, totalTokens),
              cacheReadInputTokens: max(0, cacheReadInputTokens), cacheCreationInputTokens: max(0, cacheCreationInputTokens),
              reasoningTokens: max(0, reasoningTokens))
    }
}
