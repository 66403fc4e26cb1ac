import Foundation
import Synchronization

/// Calls `handler` with a running count each time one of `signals` arrives (default actions off).
final class SignalWatcher: @unchecked Sendable {
    // Set once in init; DispatchSource is thread-safe for cancel().
    private let sources: [any DispatchSourceSignal]

    init(signals: [Int32], handler: @escaping @Sendable (Int) -> Void) {
        let queue = DispatchQueue(label: "orbiter.signals")
        var sources: [any DispatchSourceSignal] = []
        let counter = Mutex(0)
        for sig in signals {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                let n = counter.withLock { $0 += 1; return $0 }
                handler(n)
            }
            source.resume()
            sources.append(source)
        }
        self.sources = sources
    }

    func cancel() { for s in sources { s.cancel() } }
}
