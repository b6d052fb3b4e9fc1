/// Forecast errors over a set of forecasts whose targets the model never trained on.
///
/// MASE here scales the model's mean absolute error by the last-value forecast's over the same
/// targets and the same horizon (the scaled error of Hyndman and Koehler, with the naive forecast
/// at the forecast's own horizon, measured out of sample): below 1 the model beats "the load
/// stays where it is", above 1 it does worse. MAPE leaves out targets whose load is 0, where it
/// is undefined.
public struct ErrorSummary: Sendable, Equatable {
    public var count = 0
    public var absoluteError = 0.0
    public var naiveAbsoluteError = 0.0
    public var percentageError = 0.0
    public var percentageCount = 0

    public init() {}

    public mutating func add(predicted: Double, naive: Double, actual: Double, sign: Double = 1) {
        count += sign > 0 ? 1 : -1
        absoluteError += sign * abs(predicted - actual)
        naiveAbsoluteError += sign * abs(naive - actual)
        if actual != 0 {
            percentageError += sign * abs(predicted - actual) / abs(actual)
            percentageCount += sign > 0 ? 1 : -1
        }
    }

    public var mae: Double? { count > 0 ? max(0, absoluteError) / Double(count) : nil }
    public var mape: Double? { percentageCount > 0 ? max(0, percentageError) / Double(percentageCount) : nil }
    /// (A tiny epsilon keeps a constant series, where both errors are 0, at exactly 1.)
    public var mase: Double? {
        count > 0 ? (max(0, absoluteError) + 1e-12) / (max(0, naiveAbsoluteError) + 1e-12) : nil
    }
}

/// The accuracy of the forecasts at one horizon.
public struct Accuracy: Sendable, Equatable {
    public enum Source: String, Sendable {
        /// The forecasts the current model made since it was trained, scored as their targets
        /// arrived (the last `accuracyWindow` of them).
        case live
        /// At training: a model fitted without the most recent part of the history, scored on it.
        case holdout
        /// Nothing scored yet.
        case none
    }
    public let horizonSeconds: Double
    public let steps: Int
    public let trained: Bool
    public let source: Source
    public let errors: ErrorSummary
    /// The model that made the forecasts, for people ("ridge (λ 0.01) around the load a week
    /// before the target, with the seasonal lags"); nil when untrained.
    public var model: String? = nil
    public var mae: Double? { errors.mae }
    public var mape: Double? { errors.mape }
    public var mase: Double? { errors.mase }
    public var count: Int { errors.count }
}

/// The last `capacity` scored forecasts of one horizon, with their sums kept up to date (the
/// sums are recomputed once per lap of the ring so rounding cannot drift).
struct ErrorWindow: Sendable, Equatable {
    let capacity: Int
    private var model: [Double] = [], naive: [Double] = [], actual: [Double] = []
    private var next = 0
    private(set) var summary = ErrorSummary()

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { model.count }
    var isFull: Bool { model.count == capacity }

    mutating func add(predicted: Double, naive n: Double, actual a: Double) {
        if model.count < capacity {
            model.append(predicted); naive.append(n); actual.append(a)
            summary.add(predicted: predicted, naive: n, actual: a)
        } else {
            summary.add(predicted: model[next], naive: naive[next], actual: actual[next], sign: -1)
            model[next] = predicted; naive[next] = n; actual[next] = a
            summary.add(predicted: predicted, naive: n, actual: a)
        }
        next = (next + 1) % capacity
        if next == 0 {
            summary = ErrorSummary()
            for i in model.indices { summary.add(predicted: model[i], naive: naive[i], actual: actual[i]) }
        }
    }
}
