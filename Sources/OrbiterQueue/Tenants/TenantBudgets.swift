import Foundation
import OrbiterCore
import OrbiterRedis

/// Tenants' daily budgets and what each spent per UTC day, in Redis under the hash tag
/// `{orbiter:tenants}` (a tenant's budget spans every queue of the Redis):
///
/// | key | what |
/// |---|---|
/// | `{orbiter:tenants}:names` | set of tenants that have a budget |
/// | `{orbiter:tenants}:budget:<tenant>` | hash `cost_per_day` (USD), `tokens_per_day` |
/// | `{orbiter:tenants}:spend:<tenant>:<yyyymmdd>` | hash `cost`, `tokens`, `unpriced_calls` for that UTC day; kept 2 days |
///
/// Every change is a script (`tenant_set`, `tenant_remove`, `tenant_charge`; `tenant_check` reads).
public struct TenantBudgets: Sendable {
    public let client: RedisClient

    static let prefix = "{orbiter:tenants}"
    static let names = prefix + ":names"
    /// A day's counter outlives its day by one, so `budget list` can still show yesterday's.
    static let spendTTL = 2 * 86_400

    public init(client: RedisClient) { self.client = client }

    /// Checks a tenant name: letters, digits, `-`, `_`, `.`, `:`, `@` (at most 64); returns it.
    public static func checkedName(_ name: String) throws -> String {
        guard !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) || "-_.:@".unicodeScalars.contains($0) }) else {
            throw DistributedError.invalidArgument(
                "invalid tenant name '\(name.prefix(80))': use letters, digits, '-', '_', '.', ':', '@' (at most 64)")
        }
        return name
    }

    static func budgetKey(_ tenant: String) -> String { prefix + ":budget:" + tenant }
    static func spendKey(_ tenant: String, day: String) -> String { prefix + ":spend:" + tenant + ":" + day }

    /// `20260412`: the UTC day of `date`, as spend keys name it.
    public static func day(of date: Date = Date()) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day], from: date)
        return String(format: "%04d%02d%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
    }

    /// Sets (replaces) a tenant's daily limits; at least one. Returns true when it had none before.
    @discardableResult
    public func set(_ tenant: String, costPerDay: Double?, tokensPerDay: Int?) async throws -> Bool {
        let tenant = try Self.checkedName(tenant)
        guard costPerDay != nil || tokensPerDay != nil else {
            throw DistributedError.invalidArgument("give a daily limit: --cost-per-day USD and/or --tokens-per-day N")
        }
        let budget = try SpendingBudget.checked(tokens: tokensPerDay, cost: costPerDay, tokensField: "--tokens-per-day",
                                                costField: "--cost-per-day")
        let reply = try await client.run(QueueScripts.tenantSet, keys: [Self.names, Self.budgetKey(tenant)],
                                         args: [tenant, budget.cost.map { String($0) } ?? "", budget.tokens.map(String.init) ?? ""])
        return reply.int == 1
    }

    /// Removes a tenant's budget; false when it had none.
    public func remove(_ tenant: String) async throws -> Bool {
        let tenant = try Self.checkedName(tenant)
        return try await client.run(QueueScripts.tenantRemove, keys: [Self.names, Self.budgetKey(tenant)], args: [tenant]).int == 1
    }

    /// Every tenant with a budget, by name, with today's spend (UTC).
    public func list(now: Date = Date()) async throws -> [TenantBudget] {
        let names = (try await client.send(["SMEMBERS", Self.names]).array ?? []).compactMap(\.string).sorted()
        return try await names.asyncMap { try await standing($0, now: now) }
    }

    /// One tenant's limits and today's spend (UTC); a tenant without a budget has no limits.
    public func standing(_ tenant: String, now: Date = Date()) async throws -> TenantBudget {
        let reply = try await client.run(QueueScripts.tenantCheck,
                                         keys: [Self.budgetKey(tenant), Self.spendKey(tenant, day: Self.day(of: now))], args: [])
        let v = (reply.array ?? []).map { $0.string ?? "" }
        guard v.count == 4 else { throw DistributedError.badPayload("unexpected reply to tenant_check: \(reply)") }
        return TenantBudget(tenant: tenant, day: Self.day(of: now), costPerDay: Double(v[0]), tokensPerDay: Int(v[1]),
                            spentCost: Double(v[2]) ?? 0, spentTokens: Int(v[3]) ?? 0)
    }

    /// Adds one model call's spend to today's counter (UTC).
    public func charge(_ tenant: String, tokens: Int, cost: Double?, now: Date = Date()) async throws {
        let cost = cost.map { $0.isFinite ? min($0, 1e15) : 1e15 }
        _ = try await client.run(QueueScripts.tenantCharge, keys: [Self.spendKey(tenant, day: Self.day(of: now))],
                                 args: [String(min(max(0, tokens), ModelUsage.maxTokens)), cost.map { String($0) } ?? "", String(Self.spendTTL)])
    }
}

/// A tenant's daily limits and one day's spend (`orbiter budget list`).
public struct TenantBudget: Sendable, Equatable {
    public var tenant: String
    /// The UTC day `spent*` covers, `yyyymmdd`.
    public var day: String
    public var costPerDay: Double?
    public var tokensPerDay: Int?
    public var spentCost: Double
    public var spentTokens: Int

    public var json: JSONValue {
        ["tenant": .string(tenant), "day": .string(day), "cost_per_day": costPerDay.map(JSONValue.double) ?? .null,
         "tokens_per_day": tokensPerDay.map(JSONValue.int) ?? .null, "spent_cost": .double(spentCost),
         "spent_tokens": .int(spentTokens)]
    }
}

/// A task's tenant as the run's `SpendingAccount`: its daily budget read before each model call,
/// each call's spend charged after it.
public struct TenantAccount: SpendingAccount {
    public let tenant: String
    public let budgets: TenantBudgets

    public init(tenant: String, budgets: TenantBudgets) {
        self.tenant = tenant
        self.budgets = budgets
    }

    public func standing() async throws -> AccountStanding {
        let b = try await budgets.standing(tenant)
        return AccountStanding(name: "tenant '\(tenant)'", period: "per day (UTC)", costLimit: b.costPerDay,
                               tokenLimit: b.tokensPerDay, spentCost: b.spentCost, spentTokens: b.spentTokens)
    }

    public func charge(tokens: Int, cost: Double?) async throws {
        try await budgets.charge(tenant, tokens: tokens, cost: cost)
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
