/// Every failure of the predictor: what was wrong, in words that name the field, option or file.
public struct PredictError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A sample field is NaN, infinite or out of its range; `field` names it.
        case invalidSample
        /// A configuration value is out of range; `field` names the option.
        case invalidOption
        /// A horizon that is not a positive number of seconds within the configured ones.
        case invalidHorizon
        /// A saved model that is not one, is truncated, corrupt, or of another version.
        case corruptModel
        /// The file could not be read or written.
        case io
    }
    public let kind: Kind
    /// The sample field or option concerned, when there is one.
    public let field: String?
    public let message: String

    public init(_ kind: Kind, field: String? = nil, _ message: String) {
        self.kind = kind
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
