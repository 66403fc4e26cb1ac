import ArgumentParser
import OrbiterCore
import OrbiterQueue

/// `--max-tokens-total N` and `--max-cost USD`: the run's budget (`submit` and `run`).
struct BudgetOptions: ParsableArguments {
    @Option(name: .customLong("max-tokens-total"), parsing: .unconditional, help: ArgumentHelp(
        "Stop the run once its model calls used this many tokens in total (input + output).",
        discussion: "The budget is checked before each model call, so the run ends at most one call past it, failing with BudgetExceeded (not retried)."))
    var maxTokensTotal: Int?

    @Option(name: .customLong("max-cost"), parsing: .unconditional, help: ArgumentHelp(
        "Stop the run once its model calls cost this many US dollars.",
        discussion: "Priced by the price table of whoever runs it (orbiter start worker --prices FILE, orbiter run --prices FILE); a model without a price there fails the run with a ConfigurationError rather than count as free."))
    var maxCost: Double?

    func validate() throws {
        _ = try checked()
    }

    /// The budget, `nil` when neither option is given.
    var budget: SpendingBudget? {
        let budget = try? checked()
        return budget?.isEmpty == false ? budget : nil
    }

    private func checked() throws -> SpendingBudget {
        do {
            return try SpendingBudget.checked(tokens: maxTokensTotal, cost: maxCost, tokensField: "--max-tokens-total", costField: "--max-cost")
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// `--tenant NAME` (`submit`): whose daily budget the task's spend counts against.
struct TenantOption: ParsableArguments {
    @Option(help: ArgumentHelp("Count the task's spend against this tenant's daily budget (orbiter budget set).",
                               discussion: "Letters, digits, '-', '_', '.', ':', '@' (at most 64). A tenant without a budget is only counted (orbiter budget list)."))
    var tenant: String?

    func validate() throws {
        if let tenant {
            do { _ = try TenantBudgets.checkedName(tenant) } catch { throw ValidationError("--tenant: \(error)") }
        }
    }
}

/// `--prices FILE` (`run`, `start worker`): the price table costs are computed with.
struct PricesOption: ParsableArguments {
    @Option(help: ArgumentHelp(
        "A JSON price table: {\"provider:model\": {\"input\": USD, \"output\": USD, \"cache_read\": USD, \"cache_write\": USD}} per million tokens.",
        discussion: "Without it costs are unknown (cost null). examples/prices.example.json shows the format; check every price against the provider's price page.",
        valueName: "file"))
    var prices: String?

    /// The table, read once; a bad file is a usage error naming file and field.
    func load() throws -> PriceTable? {
        guard let prices else { return nil }
        do { return try PriceTable.load(file: prices) } catch { throw CLIFailure.usage("orbiter: --prices \(error)") }
    }
}

/// The stderr line `orbiter run --prices` ends with: what the run cost, or why that is unknown.
enum SpendLine {
    static func print(_ meter: SpendMeter) {
        let tokens = meter.usage.totalTokens
        if let cost = meter.cost {
            Terminal.err(Terminal.dim("cost: \(formatUSD(cost)) USD (\(tokens) tokens)") + "\n")
        } else {
            let models = meter.unpricedModels.map { "'\($0)'" }.joined(separator: ", ")
            Terminal.err("warning: cost unknown: \(meter.prices?.source ?? "the price table") has no price for \(models) (\(tokens) tokens)\n")
        }
    }
}
