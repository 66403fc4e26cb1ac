import CoreMetrics
import Prometheus

/// A Prometheus registry and the swift-metrics factory that fills it, with histogram buckets
/// suited to agent tasks (milliseconds of Redis up to minutes of LLM work).
public struct PrometheusExporter: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Pass this to `WorkerConfiguration.metricsFactory` (or `MetricsSystem.bootstrap`).
    public let factory: PrometheusMetricsFactory

    /// Bucket bounds for every duration histogram (seconds).
    public static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
        .seconds(60), .seconds(120), .seconds(300),
    ]

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.durationBuckets
        self.factory = factory
    }

    /// The registry in Prometheus text exposition format.
    public func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
