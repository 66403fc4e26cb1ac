import Foundation

/// What one model costs, in US dollars per million tokens.
public struct ModelPrice: Sendable, Equatable {
    /// Input tokens not read from (or written to) the provider's prompt cache.
    public var input: Double
    public var output: Double
    /// Input tokens read from the prompt cache; `nil`: charged as `input`.
    public var cacheRead: Double?
    /// Input tokens written to the prompt cache (Anthropic); `nil`: charged as `input`.
    public var cacheWrite: Double?

    public init(input: Double, output: Double, cacheRead: Double? = nil, cacheWrite: Double? = nil) {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
    }

    /// The cost of `usage` for a model of `provider`. Anthropic counts cached input apart from
    /// `input_tokens`; OpenAI-compatible servers count it inside (`cached_tokens` is part of
    /// `prompt_tokens`), so there it is taken out of the plain input first.
    public func cost(of usage: Usage, provider: String) -> Double {
        let cacheRead = max(0, usage.cacheReadInputTokens), cacheWrite = max(0, usage.cacheCreationInputTokens)
        let input = max(0, usage.inputTokens)
        let plain = provider == "anthropic" ? input : max(0, input - cacheRead - cacheWrite)
        let sum = Double(plain) * self.input + Double(max(0, usage.outputTokens)) * output
            + Double(cacheRead) * (self.cacheRead ?? self.input) + Double(cacheWrite) * (self.cacheWrite ?? self.input)
        return sum / 1_000_000
    }
}

/// Prices per `provider:model`, read from a file the operator keeps (`--prices FILE`). Orbiter
/// ships no prices as truth: providers change them, so the table is the host's, and a task
/// payload can never set one.
///
/// The file is a JSON object: each key is a `provider:model` as agents name their model, each
/// value `{"input", "output", "cache_read"?, "cache_write"?}` in USD per million tokens. Keys
/// starting with `_` are comments.
public struct PriceTable: Sendable, Equatable {
    public var prices: [String: ModelPrice]
    /// Where the table came from (the file), for messages.
    public var source: String

    public init(_ prices: [String: ModelPrice] = [:], source: String = "prices") {
        self.prices = prices
        self.source = source
    }

    /// Reads a table; every problem names `source` and the field.
    public init(json: JSONValue, source: String) throws {
        func bad(_ what: String) -> OrbiterError { .invalidConfiguration("\(source): \(what)") }
        guard let members = json.objectValue else {
            throw bad("must be a JSON object of \"provider:model\": {\"input\": USD, \"output\": USD} (per million tokens)")
        }
        var prices: [String: ModelPrice] = [:]
        for key in members.keys.sorted() where !key.hasPrefix("_") {
            let entry = members[key]!
            guard (try? ProviderRegistry.split(key)) != nil else {
                throw bad("key '\(key)' must be written \"provider:model\" as agents name their model, e.g. \"openai:gpt-4o\"")
            }
            guard let fields = entry.objectValue else {
                throw bad("'\(key)' must be an object {\"input\": USD, \"output\": USD, \"cache_read\"?, \"cache_write\"?} per million tokens")
            }
            let known = ["input", "output", "cache_read", "cache_write"]
            if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
                throw bad("'\(key)'.\(unknown) is not a price field (known: \(known.joined(separator: ", ")))")
            }
            func number(_ field: String, required: Bool) throws -> Double? {
                guard let v = fields[field], !v.isNull else {
                    if required { throw bad("'\(key)'.\(field) is missing (USD per million tokens)") }
                    return nil
                }
                guard let d = v.doubleValue, d.isFinite, d >= 0 else {
                    throw bad("'\(key)'.\(field) must be a number of USD per million tokens, 0 or more (got \(v.excerpt()))")
                }
                return d
            }
            prices[key] = ModelPrice(input: try number("input", required: true)!, output: try number("output", required: true)!,
                                     cacheRead: try number("cache_read", required: false),
                                     cacheWrite: try number("cache_write", required: false))
        }
        self.init(prices, source: source)
    }

    /// Reads the file at `path`; a missing file, bad JSON or a bad entry names the file.
    public static func load(file path: String) throws -> PriceTable {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw OrbiterError.invalidConfiguration("\(path): cannot read the price table (\(error.localizedDescription))")
        }
        let json: JSONValue
        do { json = try JSONValue.parse(bytes: [UInt8](data)) } catch {
            throw OrbiterError.invalidConfiguration("\(path): not valid JSON (\(error))")
        }
        return try PriceTable(json: json, source: path)
    }

    /// The price of `model` (`provider:model`), if the table has one.
    public func price(for model: String) -> ModelPrice? { prices[model] }

    /// What `usage` of `model` cost, or `nil` when the table has no price for it.
    public func cost(of usage: Usage, model: String) -> Double? {
        guard let price = prices[model] else { return nil }
        return price.cost(of: usage, provider: (try? ProviderRegistry.split(model).provider) ?? "")
    }
}

/// `0.0123`: US dollars to the millionth, trailing zeros dropped.
public func formatUSD(_ amount: Double) -> String {
    guard amount.isFinite else { return String(amount) }
    if abs(amount) >= 1e12 { return String(format: "%.0f", amount) }
    var s = String(format: "%.6f", amount)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
}
