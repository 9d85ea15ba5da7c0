import CoreMetrics
import OOMKit
import Prometheus

/// The Prometheus text exposition of what this process records through swift-metrics (the
/// ``WatchMetrics`` of a watch): swift-prometheus's registry, bootstrapped as the process's metrics
/// backend only when a command records metrics (`watch`, unless `--no-metrics`), so that without it
/// every figure goes to swift-metrics' no-op.
package enum MetricsExposition {
    /// The registry; the first use bootstraps `MetricsSystem` with it (once per process, as swift-metrics
    /// requires).
    private static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// Makes swift-prometheus the process's metrics backend. Call before the ``WatchService`` is made
    /// (its ``WatchMetrics`` takes the backend then); calling it again does nothing.
    package static func bootstrap() { _ = registry }

    /// The current exposition (text format 0.0.4) as bytes: every series recorded so far.
    package static func currentBytes() -> [UInt8] { registry.emitToBuffer() }

    /// The current exposition as text, for `oomctl status --metrics`; empty while nothing was recorded
    /// (a watch records only with ``WatchConfiguration/metricsCgroupLimit`` set).
    package static func currentText() -> String { registry.emitToString() }
}
