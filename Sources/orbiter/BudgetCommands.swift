import ArgumentParser
import OrbiterCore
import OrbiterQueue

/// `orbiter budget set|list|remove`: tenants' daily budgets.
struct BudgetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget", abstract: "Tenants' daily budgets (tasks name their tenant with submit --tenant).",
        discussion: """
            A tenant's spend is counted per UTC day over every queue of the Redis, and checked before \
            each model call of its tasks: once the day's spend reaches the budget, they fail with \
            BudgetExceeded (not retried). Tasks of one tenant running at the same time may together \
            overshoot by the model calls they have in flight. Costs are priced by each worker's \
            --prices table; a cost budget fails the tasks whose model has no price there.
            """,
        subcommands: [BudgetSetCommand.self, BudgetListCommand.self, BudgetRemoveCommand.self])
}

struct BudgetSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set (or replace) a tenant's daily budget.")

    @Argument(help: "The tenant, as tasks name it with submit --tenant.")
    var tenant: String

    @Option(name: .customLong("cost-per-day"), parsing: .unconditional, help: "US dollars per UTC day.")
    var costPerDay: Double?

    @Option(name: .customLong("tokens-per-day"), parsing: .unconditional, help: "Tokens (input + output) per UTC day.")
    var tokensPerDay: Int?

    @OptionGroup var redis: RedisOptions

    func validate() throws {
        do {
            _ = try TenantBudgets.checkedName(tenant)
            _ = try SpendingBudget.checked(tokens: tokensPerDay, cost: costPerDay, tokensField: "--tokens-per-day", costField: "--cost-per-day")
        } catch {
            throw ValidationError("\(error)")
        }
        if costPerDay == nil && tokensPerDay == nil { throw ValidationError("give --cost-per-day USD and/or --tokens-per-day N") }
    }

    func run() async throws {
        let budgets = TenantBudgets(client: try await redis.broker().client)
        let new = try await budgets.set(tenant, costPerDay: costPerDay, tokensPerDay: tokensPerDay)
        let limits = [costPerDay.map { "\(formatUSD($0)) USD" }, tokensPerDay.map { "\($0) tokens" }].compactMap { $0 }
        Terminal.out("tenant '\(tenant)': \(new ? "budget set" : "budget replaced"): \(limits.joined(separator: " and ")) per day (UTC)\n")
    }
}

struct BudgetListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "Tenants with a budget, and what each spent today (UTC).")

    @OptionGroup var redis: RedisOptions
    @OptionGroup var output: JSONOption

    func run() async throws {
        let list = try await TenantBudgets(client: try await redis.broker().client).list()
        if output.json {
            Terminal.out(JSONValue.array(list.map(\.json)).jsonString + "\n")
            return
        }
        if list.isEmpty {
            Terminal.out("no tenant has a budget (orbiter budget set TENANT --cost-per-day USD)\n")
            return
        }
        for b in list {
            var parts: [String] = []
            if let limit = b.costPerDay { parts.append("\(formatUSD(b.spentCost)) of \(formatUSD(limit)) USD") }
            if let limit = b.tokensPerDay { parts.append("\(b.spentTokens) of \(limit) tokens") }
            let over = (b.costPerDay.map { b.spentCost >= $0 } ?? false) || (b.tokensPerDay.map { b.spentTokens >= $0 } ?? false)
            Terminal.out("\(b.tenant)  \(parts.joined(separator: ", ")) spent today (\(b.day) UTC)\(over ? "  EXCEEDED" : "")\n")
        }
    }
}

struct BudgetRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a tenant's budget (its tasks are no longer limited; spend is still counted).",
        discussion: "Exit status: 0 removed, 1 the tenant had no budget.")

    @Argument(help: "The tenant.")
    var tenant: String

    @OptionGroup var redis: RedisOptions

    func validate() throws {
        do { _ = try TenantBudgets.checkedName(tenant) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        guard try await TenantBudgets(client: try await redis.broker().client).remove(tenant) else {
            throw CLIFailure.failed("orbiter: tenant '\(tenant)' has no budget; nothing removed (orbiter budget list shows those that do)")
        }
        Terminal.out("tenant '\(tenant)': budget removed\n")
    }
}
