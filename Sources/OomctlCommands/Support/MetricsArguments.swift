import ArgumentParser
import OOMKit

/// `watch`'s metrics: recorded by default (for `oomctl status --metrics`), written with `--metrics-file`
/// for node_exporter's textfile collector, or not recorded at all with `--no-metrics`.
struct MetricsArguments: ParsableArguments {
    /// The shortest time between two writes of the file when --metrics-interval is not given.
    static let defaultInterval = Duration.seconds(1)

    @Option(
        help: ArgumentHelp(
            "Write Prometheus metrics to this file (node_exporter's textfile collector, e.g. "
                + "/var/lib/node_exporter/textfile/oomctl.prom), replaced atomically when a figure changes.",
            valueName: "PATH"),
        completion: .file(extensions: ["prom"]))
    var metricsFile: String?

    @Option(
        help: ArgumentHelp(
            "With --metrics-file: rewrite it at most this often (default: \(defaultInterval.compactDescription)).",
            valueName: "DURATION"),
        transform: Duration.parse)
    var metricsInterval: Duration?

    @Option(
        help: ArgumentHelp(
            "This many cgroups get series of their own (default: "
                + "\(WatchMetrics.defaultCgroupLimit)); the rest are counted as cgroup=\"\(WatchMetrics.otherCgroups)\".",
            valueName: "N"))
    var metricsCgroupLimit: Int?

    @Flag(
        help: ArgumentHelp(
            "Record no metrics: the least memory for the handler; `oomctl status --metrics` then has none."))
    var noMetrics = false

    func validate() throws {
        if noMetrics {
            for (given, option) in [
                (metricsFile != nil, "--metrics-file"), (metricsInterval != nil, "--metrics-interval"),
                (metricsCgroupLimit != nil, "--metrics-cgroup-limit"),
            ] where given {
                throw ValidationError("\(option) needs metrics: drop it or --no-metrics")
            }
        }
        if metricsFile == nil, metricsInterval != nil {
            throw ValidationError("--metrics-interval goes with --metrics-file")
        }
        if let metricsCgroupLimit, metricsCgroupLimit < 0 {
            throw ValidationError("--metrics-cgroup-limit must be 0 or more, not \(metricsCgroupLimit)")
        }
        if metricsFile == "" { throw ValidationError("--metrics-file needs a file name") }
    }

    /// ``WatchConfiguration/metricsCgroupLimit``: nil with --no-metrics.
    var cgroupLimit: Int? { noMetrics ? nil : metricsCgroupLimit ?? WatchMetrics.defaultCgroupLimit }

    /// The file's writer in `service`'s loop, fed by its metrics; nil without --metrics-file. The metrics
    /// backend must have been bootstrapped (``MetricsExposition/bootstrap()``) before the service was made.
    func file(for service: WatchService) throws(SystemCallError) -> MetricsFile? {
        guard let metricsFile, let metrics = service.metrics else { return nil }
        let file = try MetricsFile(
            path: metricsFile, interval: metricsInterval ?? Self.defaultInterval, loop: service.loop)
        metrics.onChange = { [unowned file] in file.changed() }
        file.isBusy = { [unowned service] in service.activeHandlings > 0 }
        return file
    }
}
