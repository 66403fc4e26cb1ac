/// A limit shared beyond one run — a tenant's daily budget kept in Redis — asked before each
/// model call and charged after it. Runs sharing an account may overshoot it together by at
/// most the model calls they have in flight at the moment it runs out.
public protocol SpendingAccount: Sendable {
    /// The account's limits and what was spent against them, just now.
    func standing() async throws -> AccountStanding
    /// Adds one model call's spend (`cost` `nil` when the model has no price).
    func charge(tokens: Int, cost: Double?) async throws
}

/// Limits of a `SpendingAccount` and what was spent against them in the current period.
public struct AccountStanding: Sendable, Equatable {
    /// What the account is, for messages: `tenant 'acme'`.
    public var name: String
    /// The period the limits cover, for messages: `per day (UTC)`.
    public var period: String
    public var costLimit: Double?
    public var tokenLimit: Int?
    public var spentCost: Double
    public var spentTokens: Int

    public init(name: String, period: String, costLimit: Double?, tokenLimit: Int?, spentCost: Double, spentTokens: Int) {
        self.name = name
        self.period = period
        self.costLimit = costLimit
        self.tokenLimit = tokenLimit
        self.spentCost = spentCost
        self.spentTokens = spentTokens
    }
}
