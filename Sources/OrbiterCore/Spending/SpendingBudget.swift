/// A limit on what a run (or one agent in it) may spend: total tokens, and cost in US dollars
/// (which needs the host's price table). A run stops before the model call that would start
/// past it, so it ends at most one model call over.
public struct SpendingBudget: Sendable, Hashable {
    /// Total tokens (input + output, as `Usage.totalTokens` counts them).
    public var tokens: Int?
    /// US dollars, priced by the host's `PriceTable`.
    public var cost: Double?

    public init(tokens: Int? = nil, cost: Double? = nil) {
        self.tokens = tokens
        self.cost = cost
    }

    /// Checks the limits; `field` names them in the message (`--max-cost`, `budget.cost`).
    public static func checked(tokens: Int?, cost: Double?, tokensField: String = "budget.tokens",
                               costField: String = "budget.cost") throws -> SpendingBudget {
        if let tokens, tokens < 0 {
            throw OrbiterError.invalidConfiguration("\(tokensField) must be 0 or more tokens, got \(tokens)")
        }
        if let cost, !(cost.isFinite && cost >= 0) {
            throw OrbiterError.invalidConfiguration("\(costField) must be 0 or more US dollars, got \(cost)")
        }
        return SpendingBudget(tokens: tokens, cost: cost)
    }

    /// No limit at all.
    public var isEmpty: Bool { tokens == nil && cost == nil }

    /// `{"tokens"?, "cost"?}`.
    public var json: JSONValue {
        var d: [String: JSONValue] = [:]
        if let tokens { d["tokens"] = .int(tokens) }
        if let cost { d["cost"] = .double(cost) }
        return .object(d)
    }

    /// Reads `{"tokens"?, "cost"?}` (from a payload or a script); errors name `field`.
    public init(json: JSONValue, field: String) throws {
        guard let members = json.objectValue else {
            throw OrbiterError.invalidConfiguration("\(field) must be a table { tokens = N, cost = USD }, got \(json.excerpt())")
        }
        if let unknown = members.keys.sorted().first(where: { $0 != "tokens" && $0 != "cost" }) {
            throw OrbiterError.invalidConfiguration("\(field).\(unknown) is not a budget field (known: cost, tokens)")
        }
        var tokens: Int?, cost: Double?
        if let v = members["tokens"], !v.isNull {
            guard let i = v.intValue else {
                throw OrbiterError.invalidConfiguration("\(field).tokens must be a whole number of tokens, 0 or more, got \(v.excerpt())")
            }
            tokens = i
        }
        if let v = members["cost"], !v.isNull {
            guard let d = v.doubleValue else {
                throw OrbiterError.invalidConfiguration("\(field).cost must be a number of US dollars, 0 or more, got \(v.excerpt())")
            }
            cost = d
        }
        self = try Self.checked(tokens: tokens, cost: cost, tokensField: "\(field).tokens", costField: "\(field).cost")
    }
}
