/// The predictor's Prometheus families, with the guide's metric name for its accuracy.
/// `labels` identify the predictor (e.g. [("pool", "redis://...")]); each family's HELP and TYPE
/// lines come once, before the samples of every predictor given.
extension LoadPredictor {
    public static func prometheusText(_ predictors: [(labels: [(String, String)], predictor: LoadPredictor)]) -> String {
        var out = ""
        out += "# HELP db_connection_pool_ml_model_accuracy Load forecast error on targets the model never trained on, per horizon; measure is mae, mape or mase (mase below 1 beats the last-value forecast).\n"
        out += "# TYPE db_connection_pool_ml_model_accuracy gauge\n"
        for (labels, p) in predictors {
            for a in p.accuracy() {
                for (measure, value) in [("mae", a.mae), ("mape", a.mape), ("mase", a.mase)] {
                    guard let value else { continue }
                    let l = labels + [("horizon_seconds", number(a.horizonSeconds)), ("measure", measure), ("source", a.source.rawValue)]
                    out += "db_connection_pool_ml_model_accuracy\(labelText(l)) \(number(value))\n"
                }
            }
        }
        out += "# HELP db_connection_pool_ml_model_training_samples Slots the load predictor's last training used.\n"
        out += "# TYPE db_connection_pool_ml_model_training_samples gauge\n"
        for (labels, p) in predictors { out += "db_connection_pool_ml_model_training_samples\(labelText(labels)) \(p.trainedCount)\n" }
        out += "# HELP db_connection_pool_ml_model_trainings_total Trainings of the load predictor.\n"
        out += "# TYPE db_connection_pool_ml_model_trainings_total counter\n"
        for (labels, p) in predictors { out += "db_connection_pool_ml_model_trainings_total\(labelText(labels)) \(p.retrains)\n" }
        return out
    }

    static func labelText(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        return "{" + labels.map { k, v in
            var e = ""
            for c in v.unicodeScalars {
                switch c {
                case "\\": e += "\\\\"
                case "\"": e += "\\\""
                case "\n": e += "\\n"
                default: e.unicodeScalars.append(c)
                }
            }
            return "\(k)=\"\(e)\""
        }.joined(separator: ",") + "}"
    }

    /// Integers without ".0"; others as Swift prints them (which Prometheus parses).
    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }
}
