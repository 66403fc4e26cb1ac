import Crypto
import Foundation
import OrbiterCore
import Synchronization

/// Signed tasks and authenticated checkpoints (with `ORBITER_SECRET`), HMAC-SHA256 by swift-crypto.
///
/// A task's signature binds its payload to the queue, the task id, the bundle hash, the creation
/// time and an expiry, so a signed payload copied under another id or onto another queue, or run
/// after its expiry, is refused. The HMAC is over a versioned canonical message: six header lines,
/// each ended by `\n`, then the payload JSON text as stored (last, so it needs no framing; queue
/// names, task ids, numbers and hashes hold no newline):
///
///     orbiter-task-v2
///     <queue>
///     <task id>
///     <created_at, ms since 1970>
///     <expires_at, ms since 1970>
///     <bundle sha256, or empty>
///     <payload JSON text>
///
/// and stored as `v2.<created_at>.<expires_at>.<bundle>.<hmac hex>`, so a worker checks it before
/// it reads anything else of the payload. Checks use the constant-time
/// `HMAC.isValidAuthenticationCode`.
package struct TaskSignature: Sendable {
    package static let version = "v2"
    fileprivate let key: SymmetricKey
    private let secret: String

    package init(secret: String) {
        self.secret = secret
        key = SymmetricKey(data: Array(secret.utf8))
    }

    private static let cache = Mutex<TaskSignature?>(nil)

    /// The signer for `secret`, made once and reused across tasks.
    package static func forSecret(_ secret: String) -> TaskSignature {
        cache.withLock { cached in
            if let cached, cached.secret == secret { return cached }
            let made = TaskSignature(secret: secret)
            cached = made
            return made
        }
    }

    /// The fields a signature carries besides its MAC.
    package struct Claims: Sendable, Equatable {
        var createdAtMs: Int64
        var expiresAtMs: Int64
        var bundle: String
    }

    package static func message(queue: String, taskID: String, claims: Claims, payload: String) -> [UInt8] {
        var message: [UInt8] = []
        message.reserveCapacity(200 + payload.utf8.count)
        for line in ["orbiter-task-v2", queue, taskID, String(claims.createdAtMs), String(claims.expiresAtMs), claims.bundle] {
            message.append(contentsOf: line.utf8)
            message.append(0x0A)
        }
        message.append(contentsOf: payload.utf8)
        return message
    }

    package func sign(queue: String, taskID: String, claims: Claims, payload: String) -> String {
        let mac = HMAC<Crypto.SHA256>.authenticationCode(for: Self.message(queue: queue, taskID: taskID, claims: claims, payload: payload),
                                                         using: key)
        return [Self.version, String(claims.createdAtMs), String(claims.expiresAtMs), claims.bundle, Array(mac).hexString]
            .joined(separator: ".")
    }

    /// Checks `signature` for this task on this queue at `nowMs`; returns what it claims. Every
    /// refusal is a `badPayload` starting `signature:` (the reason the task is failed with).
    package func verify(_ signature: String, queue: String, taskID: String, payload: String, nowMs: Int64) throws -> Claims {
        guard !signature.isEmpty else {
            throw DistributedError.badPayload("signature: the task is not signed, and this worker requires signed tasks (set ORBITER_SECRET where you submit)")
        }
        // Split on bytes: a signature is ASCII, and Character splitting would cost more than the HMAC.
        let parts = signature.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).map { Substring($0) }
        guard parts.count == 5, parts[0] == Self.version, let created = Int64(parts[1]), let expires = Int64(parts[2]),
              let mac = Self.bytes(hex: parts[4]) else {
            throw DistributedError.badPayload("signature: not a \(Self.version) task signature (a task signed by an older orbiter, or a forged one); submit it again")
        }
        let claims = Claims(createdAtMs: created, expiresAtMs: expires, bundle: String(parts[3]))
        let message = Self.message(queue: queue, taskID: taskID, claims: claims, payload: payload)
        guard HMAC<Crypto.SHA256>.isValidAuthenticationCode(mac, authenticating: message, using: key) else {
            throw DistributedError.badPayload("signature: the task does not match its signature (tampered, copied from another task id or queue, or signed with another secret)")
        }
        guard nowMs <= expires else {
            let at = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(expires) / 1000))
            throw DistributedError.badPayload("signature: expired at \(at) (a signed task must start before its timeout plus the signature window after submit); submit it again")
        }
        return claims
    }

    /// Also checks that the payload says what the signature claims (its bundle and creation time).
    package static func check(_ claims: Claims, against payload: TaskPayload) throws {
        guard claims.bundle == (payload.bundle ?? ""), claims.createdAtMs == milliseconds(payload.createdAt) else {
            throw DistributedError.badPayload("signature: the payload's bundle or created_at differs from what its signature covers")
        }
    }

    package static func milliseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1000).rounded()) }

    fileprivate static func bytes(hex: Substring) -> [UInt8]? {
        guard hex.utf8.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var high: UInt8?
        for c in hex.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x57
            case 0x41...0x46: v = c - 0x37
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }

    // MARK: Checkpoints

    /// A checkpoint as stored by a worker with a secret: `orbiter-checkpoint-v1 <hmac hex>\n<json>`,
    /// the HMAC over `orbiter-checkpoint-v1\n<queue>\n<task id>\n<json>`.
    package static let checkpointPrefix = "orbiter-checkpoint-v1 "

    private static func checkpointMessage(queue: String, taskID: String, json: String) -> [UInt8] {
        Array("orbiter-checkpoint-v1\n\(queue)\n\(taskID)\n\(json)".utf8)
    }

    package func sealCheckpoint(_ json: String, queue: String, taskID: String) -> String {
        let mac = HMAC<Crypto.SHA256>.authenticationCode(for: Self.checkpointMessage(queue: queue, taskID: taskID, json: json), using: key)
        return Self.checkpointPrefix + Array(mac).hexString + "\n" + json
    }

    /// The checkpoint's JSON when its HMAC is valid for this task; otherwise why not.
    package func openCheckpoint(_ stored: String, queue: String, taskID: String) -> Result<String, CheckpointRefusal> {
        guard stored.hasPrefix(Self.checkpointPrefix), let newline = stored.firstIndex(of: "\n") else {
            return .failure(CheckpointRefusal(reason: "it is not authenticated"))
        }
        let hex = stored[stored.index(stored.startIndex, offsetBy: Self.checkpointPrefix.count)..<newline]
        let json = String(stored[stored.index(after: newline)...])
        guard let mac = Self.bytes(hex: hex),
              HMAC<Crypto.SHA256>.isValidAuthenticationCode(mac, authenticating: Self.checkpointMessage(queue: queue, taskID: taskID, json: json),
                                                            using: key) else {
            return .failure(CheckpointRefusal(reason: "its authentication code does not match (tampered, or written for another task)"))
        }
        return .success(json)
    }
}

/// Why a stored checkpoint is not used.
package struct CheckpointRefusal: Error, Sendable {
    package var reason: String
}

// MARK: Replies to parked tasks

extension TaskSignature {
    /// The HMAC of a person's reply to a parked task, bound to the queue, the task and the request
    /// it answers (a reply copied onto a later request, or another task, does not check out):
    /// `orbiter-reply-v1\n<queue>\n<task id>\n<request id>\n<kind>\n<text>`.
    package func signReply(queue: String, taskID: String, requestID: String, reply: InputReply) -> String {
        let mac = HMAC<Crypto.SHA256>.authenticationCode(for: Self.replyMessage(queue: queue, taskID: taskID, requestID: requestID, reply: reply),
                                                         using: key)
        return Array(mac).hexString
    }

    /// Whether `signature` is this reply's.
    package func verifyReply(_ signature: String, queue: String, taskID: String, requestID: String, reply: InputReply) -> Bool {
        guard let mac = Self.bytes(hex: Substring(signature)) else { return false }
        return HMAC<Crypto.SHA256>.isValidAuthenticationCode(
            mac, authenticating: Self.replyMessage(queue: queue, taskID: taskID, requestID: requestID, reply: reply), using: key)
    }

    private static func replyMessage(queue: String, taskID: String, requestID: String, reply: InputReply) -> [UInt8] {
        let (kind, text): (String, String)
        switch reply {
        case .approved: (kind, text) = ("approve", "")
        case .rejected(let reason): (kind, text) = ("reject", reason)
        case .answer(let answer): (kind, text) = ("answer", answer)
        }
        return Array("orbiter-reply-v1\n\(queue)\n\(taskID)\n\(requestID)\n\(kind)\n\(text)".utf8)
    }
}
