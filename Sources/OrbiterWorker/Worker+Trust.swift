import OrbiterCore
import OrbiterQueue

/// The worker's checks on what arrives through Redis: task signatures, checkpoints, and the
/// provider settings of shipped agents.
extension Worker {
    /// The task's payload once its signature checks out (with `ORBITER_SECRET`): bound to this task
    /// id and queue, unexpired, and saying what it was signed with. Refusals start `signature:`.
    func checkedPayload(_ text: String, signature: String, taskID: String) throws -> TaskPayload {
        guard let secret = configuration.settings.secret else {
            let first = warnedUnsigned.withLock { warned -> Bool in defer { warned = true }; return !warned }
            if first { log("ORBITER_SECRET is not set: this worker runs task scripts without checking who sent them", level: .warning) }
            return try TaskPayload(jsonText: text)
        }
        let claims = try TaskSignature.forSecret(secret).verify(signature, queue: broker.keys.queue, taskID: taskID, payload: text,
                                                              nowMs: TaskBroker.nowMs())
        let payload = try TaskPayload(jsonText: text)
        try TaskSignature.check(claims, against: payload)
        return payload
    }

    /// Refuses a shipped agent's `base_url`/`api_key_env` unless this worker allows them.
    func checkProviderSettings(_ node: JSONValue) throws {
        try configuration.providerPolicy.check(node)
    }

    /// The checkpoint as stored: with a secret, authenticated for this task.
    func sealCheckpoint(_ json: String, taskID: String) -> String {
        guard let secret = configuration.settings.secret else { return json }
        return TaskSignature.forSecret(secret).sealCheckpoint(json, queue: broker.keys.queue, taskID: taskID)
    }

    /// The checkpoint to resume from, with a person's reply to a parked task folded in (the reply
    /// is returned when it answered a step of it). A reply that answers nothing in the checkpoint
    /// (the run went past that step before its worker was lost) is not used.
    func resumePoint(_ stored: String, reply: String, taskID: String, agentName: String, trace: String?) -> (Checkpoint?, InputReply?) {
        let checkpoint = openCheckpoint(stored, taskID: taskID, agentName: agentName, trace: trace)
        guard let checkpoint, !reply.isEmpty else { return (checkpoint, nil) }
        guard let json = try? JSONValue.parse(reply), let request = json["request"]?.stringValue, let answer = json["reply"],
              let given = try? InputReply(json: answer) else {
            log("task \(taskID): ignoring a reply that cannot be read", level: .warning, task: taskID, agent: agentName, trace: trace)
            return (checkpoint, nil)
        }
        if let secret = configuration.settings.secret,
           !TaskSignature.forSecret(secret).verifyReply(json["signature"]?.stringValue ?? "", queue: broker.keys.queue, taskID: taskID,
                                                       requestID: request, reply: given) {
            log("task \(taskID): ignoring a reply that is not signed for it (send replies with ORBITER_SECRET set); the run asks again",
                level: .warning, task: taskID, agent: agentName, trace: trace)
            return (checkpoint, nil)
        }
        guard let answered = checkpoint.applying(given, to: request) else { return (checkpoint, nil) }
        return (answered, given)
    }

    /// The checkpoint to resume from, or nil. With a secret, one that is not authenticated for this
    /// task is ignored with a warning: the task runs from the start.
    func openCheckpoint(_ stored: String, taskID: String, agentName: String, trace: String?) -> Checkpoint? {
        guard !stored.isEmpty else { return nil }
        var json = stored
        if let secret = configuration.settings.secret {
            switch TaskSignature.forSecret(secret).openCheckpoint(stored, queue: broker.keys.queue, taskID: taskID) {
            case .success(let opened):
                json = opened
            case .failure(let refusal):
                log("task \(taskID): ignoring its checkpoint because \(refusal.reason); the task runs from the start",
                    level: .warning, task: taskID, agent: agentName, trace: trace)
                return nil
            }
        }
        do {
            return try Checkpoint(json: JSONValue.parse(json))
        } catch {
            log("task \(taskID): ignoring its checkpoint because it cannot be read (\(error)); the task runs from the start",
                level: .warning, task: taskID, agent: agentName, trace: trace)
            return nil
        }
    }
}
