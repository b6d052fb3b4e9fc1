import Predict
import Synchronization

/// Prometheus text exposition (format 0.0.4): samples are grouped by metric family, each
/// family once with its HELP and TYPE, whatever order the sources add them in, so the output
/// passes `promtool check metrics`.
public struct PrometheusText {
    public enum Kind: String { case gauge, counter, histogram }

    struct Family {
        let help: String
        let kind: Kind
        var lines: [String] = []
    }

    var order: [String] = []
    var families: [String: Family] = [:]

    public init() {}

    public typealias Labels = [(String, String)]

    public mutating func gauge(_ name: String, _ help: String, _ labels: Labels, _ value: Double) {
        add(name, help, .gauge, line(name, labels, value))
    }

    public mutating func counter(_ name: String, _ help: String, _ labels: Labels, _ value: Double) {
        precondition(name.hasSuffix("_total"), "a counter's name ends in _total")
        add(name, help, .counter, line(name, labels, value))
    }

    /// A histogram from cumulative counts at the bounds (seconds), its sum and its count.
    public mutating func histogram(_ name: String, _ help: String, _ labels: Labels,
                                   buckets: [(le: Double, count: UInt64)], sum: Double, count: UInt64) {
        var ls: [String] = []
        for b in buckets { ls.append(line(name + "_bucket", labels + [("le", Self.number(b.le))], Double(b.count))) }
        ls.append(line(name + "_bucket", labels + [("le", "+Inf")], Double(count)))
        ls.append(line(name + "_sum", labels, sum))
        ls.append(line(name + "_count", labels, Double(count)))
        for l in ls { add(name, help, .histogram, l) }
    }

    /// A log-linear histogram of nanoseconds as a Prometheus histogram in seconds.
    public mutating func histogram(_ name: String, _ help: String, _ labels: Labels,
                                   nanoseconds h: LogLinearHistogram, bounds: [Double]) {
        histogram(name, help, labels, buckets: bounds.map { ($0, h.countAtMost(PoolClock.nanos($0))) },
                  sum: Double(h.sum) / 1e9, count: h.count)
    }

    mutating func add(_ name: String, _ help: String, _ kind: Kind, _ line: String) {
        if families[name] == nil {
            order.append(name)
            families[name] = Family(help: help, kind: kind)
        }
        families[name]!.lines.append(line)
    }

    func line(_ name: String, _ labels: Labels, _ value: Double) -> String {
        if labels.isEmpty { return "\(name) \(Self.number(value))" }
        let ls = labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",")
        return "\(name){\(ls)} \(Self.number(value))"
    }

    public var text: String {
        var out = ""
        for name in order {
            let f = families[name]!
            out += "# HELP \(name) \(f.help)\n# TYPE \(name) \(f.kind.rawValue)\n"
            for l in f.lines { out += l + "\n" }
        }
        return out
    }

    static func escape(_ s: String) -> String {
        var r = ""
        for ch in s {
            switch ch {
            case "\\": r += "\\\\"
            case "\"": r += "\\\""
            case "\n": r += "\\n"
            default: r.append(ch)
            }
        }
        return r
    }

    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}

/// Something that adds its series to the process's metrics (a pool, a predictor).
public protocol MetricsSource: AnyObject {
    /// The name `pool.list()` shows.
    var metricsName: String { get }
    /// What it is ("redis", "qdrant", "predictor"), for `pool.list()`.
    var metricsKind: String { get }
    func writeMetrics(_ out: inout PrometheusText)
    /// Its load predictor, whose families Predict writes (`LoadPredictor.prometheusText`).
    var loadPredictor: LoadPredictor? { get }
}

extension MetricsSource {
    public var loadPredictor: LoadPredictor? { nil }
}

/// Every pool, breaker and predictor of the process, held weakly: one that is gone drops out.
public final class MetricsRegistry: @unchecked Sendable {
    public static let shared = MetricsRegistry()

    struct Weak { weak var source: MetricsSource? }
    let sources = Mutex<[Weak]>([])

    public init() {}

    public func register(_ s: MetricsSource) {
        sources.withLock { list in
            list.removeAll { $0.source == nil }
            list.append(Weak(source: s))
        }
    }

    public func unregister(_ s: MetricsSource) {
        sources.withLock { list in list.removeAll { $0.source == nil || $0.source === s } }
    }

    public var live: [MetricsSource] { sources.withLock { $0.compactMap(\.source) } }

    /// The Prometheus text of every live source.
    public func render() -> String {
        var out = PrometheusText()
        for s in live { s.writeMetrics(&out) }
        return out.text
    }
}
