import OrbiterCore

/// One model's tokens and cost in a finished task, as the queue's per-minute usage counters
/// (`{orbiter:Q}:usage:<minute>`, written by finish.lua) add them up for `queue stats`.
public struct ModelUsage: Sendable, Equatable {
    public var model: String
    public var inputTokens: Int
    public var outputTokens: Int
    /// US dollars; `nil` when the worker had no price for the model.
    public var cost: Double?

    public init(model: String, inputTokens: Int, outputTokens: Int, cost: Double?) {
        self.model = model
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cost = cost
    }

    /// A meter's spend by model.
    public static func of(_ meter: SpendMeter) -> [ModelUsage] {
        meter.byModel.map { model, usage in
            ModelUsage(model: model, inputTokens: usage.inputTokens, outputTokens: usage.outputTokens,
                       cost: meter.prices?.cost(of: usage, model: model))
        }.sorted { $0.model < $1.model }
    }

    /// Model names come from payloads: at most `maxModels` per task are counted, names over 128
    /// bytes (or past the limit) as `other`, so a task cannot grow the counters without bound.
    static let maxModels = 16
    /// More than any real task; far from where Redis's 64-bit counters overflow.
    static let maxTokens = 1_000_000_000_000

    static func bounded(_ list: [ModelUsage]) -> [ModelUsage] {
        var out: [ModelUsage] = []
        var other: ModelUsage?
        for u in list {
            if u.model.utf8.count <= 128 && out.count < maxModels - 1 {
                out.append(u)
            } else {
                var o = other ?? ModelUsage(model: "other", inputTokens: 0, outputTokens: 0, cost: 0)
                o.inputTokens = o.inputTokens.addingReportingOverflow(u.inputTokens).overflow ? Int.max : o.inputTokens + u.inputTokens
                o.outputTokens = o.outputTokens.addingReportingOverflow(u.outputTokens).overflow ? Int.max : o.outputTokens + u.outputTokens
                o.cost = o.cost.flatMap { c in u.cost.map { c + $0 } }
                other = o
            }
        }
        if let other { out.append(other) }
        // Counters hold what Redis can add without overflowing (an error inside finish.lua would
        // leave it half done): finite costs, tokens from 0 to a trillion per task.
        return out.map {
            ModelUsage(model: $0.model, inputTokens: min(max(0, $0.inputTokens), maxTokens),
                       outputTokens: min(max(0, $0.outputTokens), maxTokens),
                       cost: $0.cost.map { $0.isFinite ? min(max(0, $0), 1e15) : 1e15 })
        }
    }
}

/// One model's use in the last hour (`orbiter queue stats`).
public struct ModelUsageStats: Sendable, Equatable {
    public var model: String
    /// Tasks that ended in the hour having used the model.
    public var tasks: Int
    public var inputTokens: Int
    public var outputTokens: Int
    /// US dollars of the tasks whose cost was known.
    public var cost: Double
    /// Tasks whose cost was unknown (no price on their worker): `cost` leaves them out.
    public var unpricedTasks: Int

    public var json: JSONValue {
        ["model": .string(model), "tasks": .int(tasks), "input_tokens": .int(inputTokens), "output_tokens": .int(outputTokens),
         "cost": unpricedTasks > 0 && unpricedTasks == tasks ? .null : .double(cost), "unpriced_tasks": .int(unpricedTasks)]
    }
}

extension TaskBroker {
    /// Tokens and cost per model of the tasks that ended in the last hour, from one script call.
    public func modelUsage(now: Int64? = nil) async throws -> [ModelUsageStats] {
        let now = now ?? Self.nowMs()
        let reply = try await client.run(QueueScripts.usageStats, keys: [keys.usage(minute: now / 60_000)],
                                         args: [String(now), keys.keyPrefix])
        let flat = (reply.array ?? []).map { $0.string ?? "" }
        var byModel: [String: ModelUsageStats] = [:]
        var i = 0
        while i + 1 < flat.count {
            let (field, value) = (flat[i], Double(flat[i + 1]) ?? 0)
            i += 2
            guard let colon = field.firstIndex(of: ":") else { continue }
            let (kind, model) = (String(field[..<colon]), String(field[field.index(after: colon)...]))
            var s = byModel[model] ?? ModelUsageStats(model: model, tasks: 0, inputTokens: 0, outputTokens: 0, cost: 0, unpricedTasks: 0)
            let count = value.isFinite ? Int(clamping: Int64(min(max(value, 0), 9e18))) : 0
            switch kind {
            case "in": s.inputTokens = count
            case "out": s.outputTokens = count
            case "tasks": s.tasks = count
            case "unpriced": s.unpricedTasks = count
            case "cost": s.cost = value
            default: continue
            }
            byModel[model] = s
        }
        return byModel.values.sorted { $0.model < $1.model }
    }
}
