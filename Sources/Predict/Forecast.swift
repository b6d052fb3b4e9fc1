/// Which way the load goes over the forecast's horizon.
public enum Trend: String, Sendable {
    case increasing, decreasing, stable, unknown
}

/// The original's advice, checked in its order (see `Forecast.recommend`).
public enum Recommendation: String, Sendable {
    case monitorClosely = "monitor closely"
    case scaleUpImmediately = "scale up immediately"
    case prepareToScaleUp = "prepare to scale up"
    case considerScalingUp = "consider scaling up"
    case monitor = "monitor"
    case considerScalingDown = "consider scaling down"
    case maintain = "maintain"
    case insufficientData = "insufficient data"
}

/// How much one input (or group of Fourier terms) moves the forecast: |weight| × the input's
/// standard deviation in the training rows, as a share of the total.
public struct FeatureImportance: Sendable, Equatable {
    public let name: String
    public let weight: Double
}

/// The original's forecast contract.
public struct Forecast: Sendable, Equatable {
    /// The load expected `horizon` seconds from the last sample, in 0...1.
    public let load: Double
    /// In 0...1: 1 − 2 × the mean absolute error of recent forecasts at this horizon (scored on
    /// targets the model never trained on); 0 when untrained.
    public let confidence: Double
    public let trend: Trend
    /// Seconds ahead, as asked.
    public let horizon: Double
    /// Grid steps ahead: horizon ÷ sampling interval, rounded, at least 1.
    public let steps: Int
    public let recommendation: Recommendation
    /// Largest first.
    public let featureImportance: [FeatureImportance]
    /// False for the bootstrap answer (no model for this horizon yet).
    public let trained: Bool

    /// The change over the horizon beyond which the trend is not "stable".
    public static let trendThreshold = 0.02

    public init(load: Double, confidence: Double, trend: Trend, horizon: Double, steps: Int,
                recommendation: Recommendation, featureImportance: [FeatureImportance], trained: Bool) {
        self.load = load; self.confidence = confidence; self.trend = trend; self.horizon = horizon
        self.steps = steps; self.recommendation = recommendation; self.featureImportance = featureImportance
        self.trained = trained
    }

    /// The original's rules, in its order: low confidence first, then high, rising, falling load.
    public static func recommend(load: Double, confidence: Double, trend: Trend) -> Recommendation {
        if confidence < 0.5 { return .monitorClosely }
        if load > 0.8 { return trend == .increasing ? .scaleUpImmediately : .prepareToScaleUp }
        if load > 0.6 { return trend == .increasing ? .considerScalingUp : .monitor }
        if load < 0.3 && trend == .decreasing { return .considerScalingDown }
        return .maintain
    }
}
