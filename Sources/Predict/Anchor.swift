/// What a horizon's model forecasts the change from: the load at the origin (persistence), or the
/// load at the same phase of the day or of the week as the target, the most recent one known
/// (seasonal naive). Ridge shrinks its weights toward 0, so the anchor is the forecast it falls
/// back on when the inputs carry nothing: on a trace whose week repeats, shrinking toward last
/// week's load instead of the current one is what lets a heavily penalised model beat both.
/// Chosen per horizon on the validation split inside the training rows (`LoadPredictor.train`),
/// with the ridge penalty and whether the seasonal lags are inputs.
enum Anchor: Int, Sendable, CaseIterable {
    case lastValue = 0, dayLag = 1, weekLag = 2

    /// Index into `SeasonalLags.periods` (nil: the level).
    var period: Int? { self == .lastValue ? nil : rawValue - 1 }

    var name: String {
        switch self {
        case .lastValue: "the last value"
        case .dayLag: "the load a day before the target"
        case .weekLag: "the load a week before the target"
        }
    }
}
