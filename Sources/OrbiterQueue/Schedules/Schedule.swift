import Crypto
import Foundation
import OrbiterCore
import OrbiterLua

/// A named recurring task of one queue: when it fires (`timing`, `misfire`), and what each tick
/// submits (`template`: the task payload, with its script `bundle` stored alongside, so the
/// schedule keeps working after the bundle's own 7-day TTL and needs no files).
///
/// Stored as the hash `{orbiter:Q}:schedule:<name>` and a member of the zset
/// `{orbiter:Q}:schedules` scored by the next tick (ms since 1970). With `ORBITER_SECRET` the
/// definition is signed (`signature`), and workers fire only schedules whose signature checks out.
public struct Schedule: Sendable {
    public var name: String
    public var timing: ScheduleTiming
    public var misfire: MisfirePolicy
    /// Each tick's payload, except `created_at`, a trace and the `schedule`/`schedule_tick` metadata.
    public var template: TaskPayload
    public var bundle: ScriptBundle?
    /// Milliseconds since 1970.
    public var createdAtMs: Int64
    /// The template as stored (what the signature covers), when read from Redis.
    private var storedTemplate: String?

    public init(name: String, timing: ScheduleTiming, misfire: MisfirePolicy = .once, template: TaskPayload, bundle: ScriptBundle?,
                createdAtMs: Int64 = Int64((Date().timeIntervalSince1970 * 1000).rounded())) throws {
        try Self.validate(name: name)
        if template.bundle != bundle?.sha256 {
            throw DistributedError.invalidArgument("schedule '\(name)': the payload's bundle \(template.bundle ?? "none") is not the bundle given")
        }
        self.name = name
        self.timing = timing
        self.misfire = misfire
        self.template = template
        self.bundle = bundle
        self.createdAtMs = createdAtMs
    }

    /// Letters, digits, `-`, `_`, `.`, `:` (at most 64), like queue names.
    public static func validate(name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.:".unicodeScalars.contains($0)) }) else {
            throw DistributedError.invalidArgument("invalid schedule name '\(name.prefix(80))': use letters, digits, '-', '_', '.', ':' (at most 64)")
        }
    }

    /// Metadata keys every task of a schedule carries: the schedule's name, and its tick as an
    /// ISO 8601 UTC time (`manual` for `schedule run`).
    public static let nameKey = "schedule", tickKey = "schedule_tick"

    /// The payload of the task for `tick` (ms since 1970; `nil` for a run by hand).
    public func payload(tick: Int64?, now: Date = Date()) -> TaskPayload {
        var payload = template
        payload.createdAt = now.timeIntervalSince1970
        payload.metadata[Self.nameKey] = name
        payload.metadata[Self.tickKey] = tick.map(Self.tickText) ?? "manual"
        payload.metadata[TraceContext.metadataKey] = TraceContext.generate().traceparent
        return payload
    }

    static func tickText(_ ms: Int64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// The idempotency key of a tick: workers racing to fire it make one task.
    static func idempotencyKey(name: String, tick: Int64) -> String { "schedule:\(name):\(tick)" }

    // MARK: Stored form

    /// The hash fields of the definition (the runtime fields `last_*` are written by workers).
    func fields(signature: String) -> [(String, String)] {
        [("name", name), ("timing", timing.stored), ("misfire", misfire.rawValue), ("template", templateText),
         ("bundle", bundle?.jsonString ?? ""), ("created_at", String(createdAtMs)), ("signature", signature)]
    }

    /// Reads a stored definition; every problem names the field (a hash written by hand, or by a
    /// newer orbiter, is refused, never guessed at).
    init(name: String, fields: [String: String]) throws {
        func field(_ key: String) throws -> String {
            guard let v = fields[key] else { throw DistributedError.badPayload("schedule '\(name)': field '\(key)' is missing") }
            return v
        }
        let timing: ScheduleTiming
        do { timing = try ScheduleTiming(stored: try field("timing")) } catch DistributedError.invalidArgument(let m) {
            throw DistributedError.badPayload("schedule '\(name)': field 'timing': \(m)")
        }
        guard let misfire = MisfirePolicy(rawValue: try field("misfire")) else {
            throw DistributedError.badPayload("schedule '\(name)': field 'misfire' must be once, skip or all")
        }
        let template: TaskPayload
        do { template = try TaskPayload(jsonText: try field("template")) } catch DistributedError.badPayload(let m) {
            throw DistributedError.badPayload("schedule '\(name)': field 'template': \(m)")
        }
        var bundle: ScriptBundle?
        if let sha = template.bundle {
            let text = try field("bundle")
            guard !text.isEmpty else { throw DistributedError.badPayload("schedule '\(name)': field 'bundle' is empty (its script is missing)") }
            do { bundle = try ScriptBundle(jsonText: text, expectedSHA256: sha) } catch {
                throw DistributedError.badPayload("schedule '\(name)': field 'bundle': \(error)")
            }
        }
        guard let created = Int64(try field("created_at")) else {
            throw DistributedError.badPayload("schedule '\(name)': field 'created_at' is not a number")
        }
        try self.init(name: name, timing: timing, misfire: misfire, template: template, bundle: bundle, createdAtMs: created)
        storedTemplate = fields["template"]
    }

    private var templateText: String { storedTemplate ?? template.json.jsonString }

    // MARK: Signature

    /// HMAC-SHA256 (hex) over `orbiter-schedule-v1\n<queue>\n<name>\n<timing>\n<misfire>\n<created_at>\n<template JSON>`;
    /// the bundle is covered by its SHA-256 inside the template.
    func signature(secret: String?, queue: String) -> String {
        guard let secret else { return "" }
        let message = "orbiter-schedule-v1\n\(queue)\n\(name)\n\(timing.stored)\n\(misfire.rawValue)\n\(createdAtMs)\n\(templateText)"
        return Array(HMAC<Crypto.SHA256>.authenticationCode(for: Array(message.utf8), using: SymmetricKey(data: Array(secret.utf8))))
            .map { String(format: "%02x", $0) }.joined()
    }

    /// Checks the stored signature when the worker has a secret (constant-time comparison).
    func verify(_ stored: String, secret: String?, queue: String) throws {
        guard secret != nil else { return }
        let expected = Array(signature(secret: secret, queue: queue).utf8), given = Array(stored.utf8)
        var difference = expected.count ^ given.count
        for (i, byte) in expected.enumerated() { difference |= Int(byte ^ (i < given.count ? given[i] : 0)) }
        guard difference == 0 else {
            throw DistributedError.badPayload("schedule '\(name)': signature: \(stored.isEmpty ? "not signed" : "does not match") "
                + "(add it again with the workers' ORBITER_SECRET set: orbiter schedule add --replace)")
        }
    }
}
