import OrbiterCore
import OrbiterRedis

/// The fleet's shared rate limits, kept in Redis (`{orbiter:limits}`) and changed only by the
/// scripts in `Scripts/`. Every worker (and `orbiter run --limits`) books room here before a
/// model call and settles after it, so together they stay under each model's limit.
///
/// Redis gone during a reservation: the limiter tries three times within about a second
/// (50, 100, 200 ms apart), then fails the call with a retryable `ModelError` — the model is
/// never called without a booking (fail closed), and a worker retries the task later.
/// Corrections after the call (settle, headers, 429s) are best effort: a lost one leaves the
/// bucket stricter or looser by one call until the window passes.
public final class RateLimiter: Sendable {
    public let client: RedisClient
    /// The longest a call waits for room. A call whose room is further away is not booked and
    /// fails with a retryable `ModelError` (a worker retries the task later); a task's own
    /// deadline or cancel ends a wait sooner.
    public let maxWait: Duration
    let metrics: LimitMetrics?

    public init(client: RedisClient, maxWait: Duration = .seconds(300), metrics: LimitMetrics? = nil) {
        self.client = client
        self.maxWait = max(.zero, min(maxWait, .seconds(3600)))
        self.metrics = metrics
    }

    /// A booking made by `reserve.lua`.
    public struct Booking: Sendable, Hashable {
        /// The limit it was made under (with the key, or the model's own).
        public var name: LimitName
        public var waitMs: Int
        public var input: Int
        public var output: Int
        /// The dimension that decided the wait (`rpm`, `itpm`, `otpm`, `tpm`, `retry_after`, `none`).
        public var dimension: String
    }

    /// What `reserve.lua` decided.
    public enum Reservation: Sendable, Hashable {
        /// No limit is set for this model.
        case unlimited
        case booked(Booking)
        /// Room is further away than the caller waits; nothing was booked.
        case tooFar(waitMs: Int, dimension: String)
        /// The call alone is bigger than the limit allows per period.
        case neverFits(dimension: String, cost: Int, limit: Int)
    }

    /// Books one call of `input` + `output` tokens (output 0: the limit's estimate) under the
    /// limit of `name` with its key, else of the model. Throws `RedisError` when Redis does not
    /// answer after the retries, `OrbiterError.invalidConfiguration` for a broken stored limit
    /// (a field that is not a number, a key that is not a hash).
    public func reserve(_ name: LimitName, input: Int, output: Int, maxWaitMs: Int? = nil) async throws -> Reservation {
        let keys = [LimitKeys.limit(name), LimitKeys.limit(name.withoutKey)]
        let wait = maxWaitMs ?? Int(maxWait.inMilliseconds)
        let reply: RedisReply
        do {
            reply = try await withRedisRetries {
                try await client.run(LimitScripts.reserve, keys: keys, args: [max(0, input), max(0, output), wait])
            }
        } catch RedisError.server(let message) where message.contains(": field ") || message.hasPrefix("WRONGTYPE") {
            // A limit stored wrong (a field that is not a number, a key of another type): no retry mends it.
            let text = message.hasPrefix("ERR ") ? String(message.dropFirst(4)) : message
            throw OrbiterError.invalidConfiguration(text)
        }
        guard let items = reply.array, let kind = items.first?.int else {
            throw RedisError.protocolError("reserve.lua gave an unexpected reply")
        }
        func int(_ i: Int) -> Int { i < items.count ? Int(items[i].int ?? 0) : 0 }
        func text(_ i: Int) -> String { i < items.count ? items[i].string ?? "" : "" }
        switch kind {
        case 1:
            return .booked(Booking(name: int(2) == 2 ? name.withoutKey : name, waitMs: int(1), input: int(3), output: int(4),
                                   dimension: text(5)))
        case 2: return .tooFar(waitMs: int(1), dimension: text(2))
        case 3: return .neverFits(dimension: text(1), cost: int(2), limit: int(3))
        default: return .unlimited
        }
    }

    /// Gives back (positive) or takes more (negative) of a booking once the call's use is known.
    public func settle(_ name: LimitName, requests: Int, input: Int, output: Int) async throws {
        guard requests != 0 || input != 0 || output != 0 else { return }
        _ = try await client.run(LimitScripts.settle, keys: [LimitKeys.limit(name)], args: [requests, input, output])
    }

    /// Tightens the buckets to what the provider's headers say is left.
    public func recalibrate(_ name: LimitName, from headers: RateLimitHeaders) async throws {
        guard !headers.remaining.isEmpty else { return }
        var args: [any RedisArgument] = []
        for r in headers.remaining { args += [r.dimension, r.remaining, r.resetMs ?? -1] }
        _ = try await client.run(LimitScripts.recalibrate, keys: [LimitKeys.limit(name)], args: args)
    }

    /// After a 429: no call of this model starts anywhere before `retryAfterMs` from now.
    /// Returns the ms until the model's next free time (-1 when it has no limit any more).
    @discardableResult
    public func penalize(_ name: LimitName, retryAfterMs: Int) async throws -> Int {
        let reply = try await client.run(LimitScripts.penalize, keys: [LimitKeys.limit(name)], args: [max(0, retryAfterMs)])
        return Int(reply.int ?? -1)
    }

    /// Creates or changes a limit; true when it is new.
    @discardableResult
    public func set(_ name: LimitName, _ limit: ModelLimit) async throws -> Bool {
        var args: [any RedisArgument] = [name.description]
        for (field, value) in limit.fields { args += [field, value] }
        return try await client.run(LimitScripts.set, keys: [LimitKeys.limit(name), LimitKeys.index], args: args).int == 1
    }

    /// Deletes a limit and its state; false when there was none.
    @discardableResult
    public func remove(_ name: LimitName) async throws -> Bool {
        try await client.run(LimitScripts.remove, keys: [LimitKeys.limit(name), LimitKeys.index], args: [name.description]).int == 1
    }

    /// Every limit with what is in use now and when the next call may start, sorted by name.
    public func list() async throws -> [LimitStatus] {
        let names = (try await client.send(["SMEMBERS", LimitKeys.index]).array ?? []).compactMap(\.string).sorted()
        let replies = try await client.pipeline([["TIME"]] + names.map { ["HGETALL", LimitKeys.tag + ":m:" + $0] })
        guard let time = replies.first?.array, time.count == 2, let s = time[0].int, let us = time[1].int else {
            throw RedisError.protocolError("TIME gave an unexpected reply")
        }
        let now = Double(s) * 1000 + Double(us) / 1000
        return zip(names, replies.dropFirst()).map { name, reply in
            var fields: [String: String] = [:]
            let items = reply.array ?? []
            for i in stride(from: 0, to: items.count - 1, by: 2) {
                if let k = items[i].string { fields[k] = items[i + 1].string ?? "" }
            }
            return Self.status(name: name, fields: fields, now: now)
        }
    }

    /// In use per dimension = the booked part of the window, `(tat − now) / spacing`, within
    /// 0…limit; the next free time is when a one-unit call fits (`tat + spacing − 0.9 period`).
    static func status(name: String, fields: [String: String], now: Double) -> LimitStatus {
        let limit = ModelLimit(fields: fields)
        func stamp(_ field: String) -> Double {
            guard let v = fields[field].flatMap(Double.init), v.isFinite, v > now else { return now }
            return v
        }
        var inUse: [String: Int] = [:]
        var next = stamp("blocked_until")
        if let limit {
            let period = Double(limit.periodMs)
            for (dim, value) in limit.dimensions {
                let spacing = period / Double(value)
                let tat = stamp("tat_" + dim)
                inUse[dim] = Int(min(Double(value), ((tat - now) / spacing).rounded(.up)))
                next = max(next, tat + spacing - period * 0.9)
            }
        }
        let rejections = fields["rejections"].flatMap { Int($0) } ?? 0
        return LimitStatus(name: name, limit: limit, inUse: inUse, nextFreeMs: Int(max(0, min(next - now, 1e12)).rounded(.up)),
                           rejections: rejections)
    }

    /// Three tries within about a second when the connection fails; server errors pass at once.
    private func withRedisRetries(_ body: () async throws -> RedisReply) async throws -> RedisReply {
        var backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(800))
        while true {
            do {
                return try await body()
            } catch RedisError.connection(let message) {
                guard backoff.failures < 3 else { throw RedisError.connection(message) }
                try await Task.sleep(for: backoff.next())
            }
        }
    }
}
