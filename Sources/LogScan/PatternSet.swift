import Glibc

/// What makes a line count for one named set of a scan ("sql", "errors", "timeouts"): words
/// (literal strings, optionally word-bounded) or a POSIX extended regular expression, as
/// `grep -E` reads it.
///
/// An expression that is only an alternation of literals (`ERROR`, `(timeout|slow|high_latency)`:
/// every pattern the guide greps for) is run by `LiteralSet`, one pass per line with no regex
/// engine; anything else goes to glibc's regcomp/regexec (REG_STARTEND, so lines are matched in
/// place without a copy). glibc's matcher has grep -E's semantics exactly and costs nothing to
/// ship; a purpose-built engine would only pay off for the literal case, which is handled above.
public struct PatternSpec: Sendable {
    public enum Kind: Sendable { case words([String]), regex(String) }
    public let name: String
    public let kind: Kind
    public let ignoreCase: Bool
    /// Words only: a word must stand alone (not inside a longer word).
    public let wordBounded: Bool

    public init(name: String, words: [String], ignoreCase: Bool = false, wordBounded: Bool = false) {
        self.name = name; kind = .words(words); self.ignoreCase = ignoreCase; self.wordBounded = wordBounded
    }

    public init(name: String, regex: String, ignoreCase: Bool = false) {
        self.name = name; kind = .regex(regex); self.ignoreCase = ignoreCase; wordBounded = false
    }
}

public struct PatternError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public var description: String { message }
}

/// A compiled PatternSpec.
final class CompiledPattern: @unchecked Sendable {
    let name: String
    let literals: LiteralSet?
    private var regex: regex_t
    private let hasRegex: Bool

    init(_ spec: PatternSpec) throws(PatternError) {
        name = spec.name
        regex = regex_t()
        switch spec.kind {
        case .words(let words):
            guard !words.isEmpty, !words.contains(where: \.isEmpty) else {
                throw PatternError(message: "set \(spec.name): words must be non-empty strings")
            }
            literals = LiteralSet(words.map { Array($0.utf8) }, ignoreCase: spec.ignoreCase, wordBounded: spec.wordBounded)
            hasRegex = false
        case .regex(let text):
            if let alts = CompiledPattern.literalAlternation(text) {
                literals = LiteralSet(alts, ignoreCase: spec.ignoreCase, wordBounded: false)
                hasRegex = false
            } else {
                literals = nil
                var flags = REG_EXTENDED | REG_NOSUB
                if spec.ignoreCase { flags |= REG_ICASE }
                let rc = regcomp(&regex, text, flags)
                if rc != 0 {
                    var buf = [CChar](repeating: 0, count: 256)
                    regerror(rc, &regex, &buf, buf.count)
                    throw PatternError(message: "set \(spec.name): bad regular expression \(text): \(String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
                }
                hasRegex = true
            }
        }
    }

    deinit { if hasRegex { regfree(&regex) } }

    /// Whether `find` may search many lines at once (a set of at most eight literals, none
    /// holding a line's end).
    var searchesBuffers: Bool { literals?.searchesBuffers ?? false }

    /// Where the first match at or after `from` starts in lines p[0..<n) (n: none); only when
    /// `searchesBuffers`.
    @inline(__always) func find(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int {
        literals.unsafelyUnwrapped.find(p, n, from: from)
    }

    /// `find` counting the newlines passed into `lines` and the first NUL into `nul`.
    @inline(__always) func findLines(_ p: UnsafePointer<UInt8>, _ n: Int, from: Int, lines: inout Int, nul: inout Int) -> Int {
        literals.unsafelyUnwrapped.findLines(p, n, from: from, lines: &lines, nul: &nul)
    }

    @inline(__always) func matches(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        if let l = literals { return l.matches(p, n) }
        var m = regmatch_t(rm_so: 0, rm_eo: regoff_t(n))
        return p.withMemoryRebound(to: CChar.self, capacity: max(n, 1)) { c in
            regexec(&regex, c, 1, &m, REG_STARTEND) == 0
        }
    }

    /// The alternatives of an expression made only of literals joined by `|`, optionally in one
    /// pair of parentheses; nil when any other ERE syntax appears.
    static func literalAlternation(_ text: String) -> [[UInt8]]? {
        var b = Array(text.utf8)
        if b.count >= 2 && b.first == 0x28 && b.last == 0x29 { b = Array(b[1..<(b.count - 1)]) }
        let special = Set(".[]()*+?{}^$\\".utf8)
        if b.isEmpty || b.contains(where: { special.contains($0) }) { return nil }
        let alts = b.split(separator: 0x7C, omittingEmptySubsequences: false).map(Array.init)
        if alts.contains(where: \.isEmpty) { return nil }
        return alts
    }
}
