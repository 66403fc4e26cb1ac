import Foundation
import OrbiterCore
import Synchronization

/// When the task running in this task ends (a worker sets it from the task's timeout): a model
/// call does not book room that starts after it, and fails retryably instead.
public enum AdmissionDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?
}

/// A `ModelProvider` that books room under the fleet's shared limit before each call of the
/// provider it wraps, and settles the booking after it.
///
/// Before: one request + estimated input tokens (`TokenEstimate`) + `max_tokens` (or the limit's
/// output estimate) are booked by `reserve.lua`; the call then sleeps (a cancellable `Task.sleep`,
/// nothing held in Redis) until its start time, and a wait of a second or more is reported as a
/// `status rate_limited` event. During: the provider's rate-limit headers tighten the buckets
/// (`recalibrate.lua`), a 429 pushes the model's next free time for every worker
/// (`penalize.lua`), and each retry the provider sends is booked again. After: `settle.lua`
/// gives back what was booked and not used (or takes what was used beyond it). A model without
/// a limit costs one script call and nothing else.
public struct RateLimitedProvider: ModelProvider {
    public let inner: any ModelProvider
    public let limiter: RateLimiter
    /// `provider:model`, with the key variable when the call uses one (`LimitName`).
    public let name: LimitName?

    /// The key variable each built-in provider reads when an agent names none.
    public static let defaultKeyVariables = ["openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"]

    public init(wrapping inner: any ModelProvider, limiter: RateLimiter, provider: String, model: String, settings: ModelSettings) {
        self.inner = inner
        self.limiter = limiter
        // A model a limit cannot name (spaces, '#') has no limit: it is called as it is.
        self.name = try? LimitName(provider: provider, model: model,
                                   key: settings.apiKeyEnv ?? Self.defaultKeyVariables[provider])
    }

    public func complete(_ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        // A model without a limit calls straight through: this frame stays allocated during the
        // call (issue 21: memory of tasks in flight), so the limited path is out of line.
        guard let name else { return try await inner.complete(request, onEvent: onEvent) }
        try await completeLimited(name, request, onEvent: onEvent)
    }

    @inline(never)
    private func completeLimited(_ name: LimitName, _ request: ModelRequest, onEvent: (ModelStreamEvent) async throws -> Void) async throws {
        let demand = Demand(input: TokenEstimate.input(of: request), output: max(0, request.maxTokens ?? 0))
        guard let first = try await admit(name, demand) else { return try await inner.complete(request, onEvent: onEvent) }
        let call = LimitedCall(first: first, demand: demand, admit: { try await self.admit(name, demand) }, limiter: limiter)
        do {
            try await ProviderResponseObservation.$current.withValue(call) {
                try await inner.complete(request) { event in
                    if case .usage(let usage) = event { call.used(usage) }
                    try await onEvent(event)
                }
            }
        } catch {
            await call.settle(failed: true)
            throw error
        }
        await call.settle(failed: false)
    }

    struct Demand: Sendable {
        var input: Int
        var output: Int
    }

    /// Books room and waits for it; nil when the model has no limit. A call waits at most the
    /// limiter's `maxWait`, and never past the task's deadline (`AdmissionDeadline`).
    func admit(_ name: LimitName, _ demand: Demand) async throws -> RateLimiter.Booking? {
        var waitMs = Int(limiter.maxWait.inMilliseconds), bound = "the \(Self.seconds(waitMs)) s a call waits"
        if let deadline = AdmissionDeadline.current {
            let left = max(0, Int((deadline - ContinuousClock.now).inMilliseconds))
            if left < waitMs { (waitMs, bound) = (left, "the \(Self.seconds(left)) s its task has left") }
        }
        let reservation: RateLimiter.Reservation
        do {
            reservation = try await limiter.reserve(name, input: demand.input, output: demand.output, maxWaitMs: waitMs)
        } catch let error as OrbiterError {
            throw ModelError(provider: name.provider, model: name.model, message: "rate limiter: \(error)", retryable: false)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ModelError(provider: name.provider, model: name.model,
                             message: "rate limiter unavailable (\(error)); the call was not sent", retryable: true)
        }
        switch reservation {
        case .unlimited:
            return nil
        case .neverFits(let dimension, let cost, let limit):
            throw ModelError(provider: name.provider, model: name.model, message:
                "one call needs \(cost) \(Self.unit(dimension)) but the limit \(name) allows \(limit) per period (\(dimension)); lower max_tokens or raise the limit with orbiter limits set",
                retryable: false)
        case .tooFar(let needMs, let dimension):
            throw ModelError(provider: name.provider, model: name.model, message:
                "rate limit \(name): the next room (\(dimension)) is \(Self.seconds(needMs)) s away, more than \(bound); try again later",
                retryable: true)
        case .booked(let booking):
            limiter.metrics?.tokens("reserved", model: booking.name.withoutKey.description, count: booking.input + booking.output)
            if booking.waitMs > 0 {
                if booking.waitMs >= 1000, let scope = ModelCallScope.current {
                    await scope.emit(.status(StatusEvent(status: .rateLimited, agentName: scope.agentName, message:
                        "waiting \(Self.seconds(booking.waitMs)) s for room under the rate limit of \(booking.name) (\(booking.dimension))",
                        waitMs: booking.waitMs)))
                }
                do {
                    try await Task.sleep(for: .milliseconds(booking.waitMs))
                } catch {
                    // Cancelled (or past the task's deadline) while waiting: the call is not made.
                    try? await limiter.settle(booking.name, requests: 1, input: booking.input, output: booking.output)
                    throw CancellationError()
                }
            }
            limiter.metrics?.waited(model: booking.name.withoutKey.description, ms: booking.waitMs)
            return booking
        }
    }

    static func unit(_ dimension: String) -> String { dimension == "rpm" ? "request" : "tokens" }

    static func seconds(_ ms: Int) -> String { String(format: "%.1f", Double(ms) / 1000) }
}

/// One limited call's bookings (the first, and one per retry the provider sends), the usage it
/// reported and what its responses said; settled once when the call ends.
final class LimitedCall: ProviderResponseObserver {
    private struct State {
        var bookings: [RateLimiter.Booking]
        var usage: Usage?
        var succeeded = false
    }
    private let state: Mutex<State>
    private let admit: @Sendable () async throws -> RateLimiter.Booking?
    private let limiter: RateLimiter

    init(first: RateLimiter.Booking, demand: RateLimitedProvider.Demand,
         admit: @escaping @Sendable () async throws -> RateLimiter.Booking?, limiter: RateLimiter) {
        state = Mutex(State(bookings: [first]))
        self.admit = admit
        self.limiter = limiter
    }

    private var name: LimitName { state.withLock { $0.bookings[0].name } }

    func used(_ usage: Usage) { state.withLock { $0.usage = usage } }

    func responseHead(status: Int, headers: [String: String]) async {
        let parsed = RateLimitHeaders(headers)
        let name = name
        if (200..<300).contains(status) { state.withLock { $0.succeeded = true } }
        try? await limiter.recalibrate(name, from: parsed)
        if status == 429 {
            limiter.metrics?.rejected(model: name.withoutKey.description)
            try? await limiter.penalize(name, retryAfterMs: parsed.retryAfterMs ?? 1000)
        }
    }

    func willRetry(attempt: Int) async throws {
        // The provider sends the request again: book it like any call (waits past a 429's push).
        if let booking = try await admit() { state.withLock { $0.bookings.append(booking) } }
    }

    /// Every attempt keeps its request; tokens are corrected to the usage the reply reported. A
    /// call that failed keeps its input estimate only when a reply had begun (the provider read
    /// the prompt); attempts refused before any reply give all their tokens back.
    func settle(failed: Bool) async {
        for correction in corrections(failed: failed) {
            try? await limiter.settle(correction.name, requests: 0, input: correction.input, output: correction.output)
        }
    }

    /// What each booking gives back (positive) or takes (negative), metrics counted. Kept apart
    /// from the awaiting loop: computed inside `settle`, the Swift 6.3.1 optimizer crashed on it in
    /// release builds (OwnershipModelEliminator).
    private func corrections(failed: Bool) -> [(name: LimitName, input: Int, output: Int)] {
        let snapshot: State = state.withLock { $0 }
        let bookings = snapshot.bookings
        let model = bookings[0].name.withoutKey.description
        var used: (input: Int, output: Int)?
        if let usage = snapshot.usage { used = (usage.inputTokens, usage.outputTokens) }
        var out: [(name: LimitName, input: Int, output: Int)] = []
        for i in bookings.indices {
            var input = bookings[i].input
            var output = bookings[i].output
            if i == bookings.count - 1 {
                if let used {
                    input -= used.input
                    output -= used.output
                    limiter.metrics?.tokens("used", model: model, count: used.input + used.output)
                } else if failed && snapshot.succeeded {
                    input = 0
                }
            }
            limiter.metrics?.tokens("refunded", model: model, count: max(0, input + output))
            out.append((bookings[i].name, input, output))
        }
        return out
    }
}
