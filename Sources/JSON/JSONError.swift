/// An error from the JSON parser or writer.
///
/// Parser errors carry the byte offset of the problem in the input (0-based) and the
/// 1-based line and column (column counted in bytes) computed from it. Writer errors
/// have `offset == -1`.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: UInt8, Sendable, Equatable {
        /// A byte that cannot start or continue the document here.
        case unexpectedCharacter
        /// The input ended inside a value.
        case unexpectedEnd
        /// Bytes after the single top-level value.
        case trailingCharacters
        /// A malformed number (leading zero, missing digits, ...).
        case invalidNumber
        /// A number whose magnitude is too large for a Double (e.g. `1e400`).
        case numberOutOfRange
        /// An unknown escape (`\x`) or a malformed `\uXXXX`.
        case invalidEscape
        /// A `\uXXXX` escape that is a lone or mismatched UTF-16 surrogate.
        case invalidSurrogate
        /// A raw control character (U+0000...U+001F) inside a string.
        case controlCharacterInString
        /// Bytes that are not valid UTF-8.
        case invalidUTF8
        /// Nesting deeper than `JSONParseOptions.maxDepth`.
        case depthLimitExceeded
        /// Input longer than `JSONParseOptions.maxInputSize`.
        case inputTooLarge
        /// A string longer than `JSONParseOptions.maxStringLength` bytes (after unescaping).
        case stringTooLong
        /// Writer: NaN or infinity cannot be written as JSON.
        case invalidDouble
        /// Writer: a call out of order (value without key in an object, unbalanced end, ...).
        case invalidWriterState
        /// Writer: `rawNumber` given bytes that are not a JSON number.
        case invalidRawNumber
    }

    public let kind: Kind
    /// Human-readable message, including the position for parser errors.
    public let message: String
    /// 0-based byte offset in the input, or -1 for writer errors.
    public let offset: Int
    /// 1-based line (0 for writer errors).
    public let line: Int
    /// 1-based column in bytes (0 for writer errors).
    public let column: Int

    public init(kind: Kind, message: String, offset: Int = -1, line: Int = 0, column: Int = 0) {
        self.kind = kind
        self.message = message
        self.offset = offset
        self.line = line
        self.column = column
    }

    public var description: String { message }

    /// Builds a parser error; computes line and column by scanning the input up to `offset`.
    @usableFromInline
    @inline(never)
    static func at(_ kind: Kind, _ what: String, _ offset: Int, _ input: UnsafeRawBufferPointer,
                   hint: String = "") -> JSONError {
        var line = 1
        var lineStart = 0
        let end = min(offset, input.count)
        var k = 0
        while k < end {
            if input[k] == 0x0A { line += 1; lineStart = k + 1 }
            k += 1
        }
        let column = offset - lineStart + 1
        return JSONError(kind: kind,
                         message: "\(what) at byte \(offset) (line \(line), column \(column))"
                             + (hint.isEmpty ? "" : ": " + hint),
                         offset: offset, line: line, column: column)
    }

    /// Describes a byte for messages: `'x'` for printable ASCII, `0xNN` otherwise.
    static func describe(byte b: UInt8) -> String {
        if b >= 0x21 && b < 0x7F {
            return "'" + String(decoding: CollectionOfOne(b), as: UTF8.self) + "'"
        }
        let hex: [Character] = Array("0123456789ABCDEF")
        return "0x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)])
    }
}
