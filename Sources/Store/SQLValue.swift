/// A value SQLite stores: its five storage classes.
public enum SQLValue: Equatable, Sendable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    /// The integer, or nil for any other class.
    public var integer: Int64? { if case .integer(let v) = self { v } else { nil } }
    /// The number: an integer widened, or a real.
    public var real: Double? {
        switch self {
        case .integer(let v): Double(v)
        case .real(let v): v
        default: nil
        }
    }
    /// The text, or nil for any other class.
    public var text: String? { if case .text(let v) = self { v } else { nil } }
    public var isNull: Bool { self == .null }
}

extension SQLValue: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByNilLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(nilLiteral: ()) { self = .null }
}

extension SQLValue {
    public init(_ value: Int) { self = .integer(Int64(value)) }
    public init(_ value: Double) { self = .real(value) }
    public init(_ value: String?) { self = value.map { .text($0) } ?? .null }
}

/// One row of a query's result, by position or by column name.
public struct Row: Sendable {
    public let names: [String]
    public let values: [SQLValue]

    public subscript(index: Int) -> SQLValue { index < values.count ? values[index] : .null }
    /// The named column's value; `.null` when the query has no such column.
    public subscript(name: String) -> SQLValue {
        guard let index = names.firstIndex(of: name) else { return .null }
        return values[index]
    }
}
