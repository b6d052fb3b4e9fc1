import Foundation
import JSON
import XCTest

final class ParserTests: XCTestCase {
    func testScalars() {
        XCTAssertEqual(value("null"), .null)
        XCTAssertEqual(value(" true "), .bool(true))
        XCTAssertEqual(value("\n\t\rfalse"), .bool(false))
        XCTAssertEqual(value("0"), .int(0))
        XCTAssertEqual(value("-0"), .int(0))
        XCTAssertEqual(value("-0.0"), .d(-0.0))
        XCTAssertEqual(value("0.0"), .d(0.0))
        XCTAssertEqual(value("1.5"), .d(1.5))
        XCTAssertEqual(value("1E2"), .d(100))
        XCTAssertEqual(value("1e+2"), .d(100))
        XCTAssertEqual(value("-1.25e-2"), .d(-0.0125))
        XCTAssertEqual(value("\"hi\""), .s("hi"))
        XCTAssertEqual(value("[]"), .array([]))
        XCTAssertEqual(value("{}"), .object([]))
        XCTAssertEqual(value("[1,\"a\",null]"), .array([.int(1), .s("a"), .null]))
        XCTAssertEqual(value("{\"a\":1,\"b\":[true,{}]}"),
                       .object([.init(key: Array("a".utf8), value: .int(1)),
                                .init(key: Array("b".utf8), value: .array([.bool(true), .object([])]))]))
        XCTAssertEqual(value(" [ 1 , 2 ] "), .array([.int(1), .int(2)]))
        // Duplicate keys are kept in order; the binding decides.
        XCTAssertEqual(value("{\"a\":1,\"a\":2}"),
                       .object([.init(key: Array("a".utf8), value: .int(1)), .init(key: Array("a".utf8), value: .int(2))]))
    }

    func testInt64Edges() {
        let edges: [Int64] = [0, 1, -1, Int64.max, Int64.min, Int64.max - 1, Int64.min + 1,
                              (1 << 53) - 1, 1 << 53, (1 << 53) + 1, -(1 << 53) - 1, -(1 << 53), -(1 << 53) + 1,
                              999_999_999_999_999_999, -999_999_999_999_999_999, 1_000_000_000_000_000_000]
        for e in edges {
            XCTAssertEqual(value(String(e)), .int(e), "\(e)")
            var w = JSONWriter()
            w.int(e)
            XCTAssertEqual(String(decoding: w.bytes, as: UTF8.self), String(e))
            XCTAssertEqual(outcome(w.bytes).v, .int(e))
        }
    }

    func testBigIntegersKeptExactly() throws {
        for s in ["9223372036854775808", "-9223372036854775809", "18446744073709551615", "18446744073709551616",
                  "99999999999999999999", "-99999999999999999999999999999999", "10000000000000000000"] {
            XCTAssertEqual(value(s), .big(s), s)
            XCTAssertEqual(try reencode(s), s)
            XCTAssertEqual(try reencode("[\(s),1]"), "[\(s),1]")
        }
        // Leading zeros in a big integer are still errors.
        XCTAssertEqual(error("0018446744073709551615")?.kind, .invalidNumber)
    }

    func testDoubleParsingMatchesStrtod() {
        var rng = SplitMix(seed: 1)
        for _ in 0..<100_000 {
            let digits = Int.random(in: 1...20, using: &rng)
            var s = Bool.random(using: &rng) ? "-" : ""
            let intLen = Int.random(in: 1...digits, using: &rng)
            for k in 0..<digits {
                if k == intLen { s += "." }
                let d = (k == 0 && intLen > 1) ? Int.random(in: 1...9, using: &rng) : Int.random(in: 0...9, using: &rng)
                s += String(d)
            }
            if Bool.random(using: &rng) { s += "e\(Int.random(in: -340...310, using: &rng))" }
            if !s.contains(".") && !s.contains("e") { s += ".5" }
            guard let expected = strtod(s, nil) as Double?, expected.isFinite else {
                XCTAssertEqual(error(s)?.kind, .numberOutOfRange, s)
                continue
            }
            XCTAssertEqual(value(s), .d(expected), s)
        }
    }

    func testSpecialDoubles() {
        XCTAssertEqual(value("5e-324"), .d(Double.leastNonzeroMagnitude))
        XCTAssertEqual(value("4.9406564584124654e-324"), .d(Double.leastNonzeroMagnitude))
        XCTAssertEqual(value("2.2250738585072014e-308"), .d(Double.leastNormalMagnitude))
        XCTAssertEqual(value("2.225073858507201e-308"), .d(Double.leastNormalMagnitude.nextDown))
        XCTAssertEqual(value("1.7976931348623157e308"), .d(Double.greatestFiniteMagnitude))
        XCTAssertEqual(value("-1.7976931348623157e308"), .d(-Double.greatestFiniteMagnitude))
        XCTAssertEqual(value("1e-400"), .d(0.0)) // underflow rounds to zero, as strtod does
        XCTAssertEqual(value("-1e-400"), .d(-0.0))
        XCTAssertEqual(value("0e99999999999"), .d(0.0))
        XCTAssertEqual(value("9007199254740993.0"), .d(9007199254740992)) // 2^53+1 rounds to even
        XCTAssertEqual(value("123456789e30"), .d(123456789e30)) // extended Clinger path
        XCTAssertEqual(value("1e23"), .d(1e23))
        // Out of range: rejected, never turned into infinity.
        for s in ["1e400", "-1e400", "1.8e308", "1e99999999999999999999"] {
            let e = error(s)
            XCTAssertEqual(e?.kind, .numberOutOfRange, s)
            XCTAssertEqual(e?.offset, 0, s)
        }
        XCTAssertEqual(error("[1,1e400]")?.offset, 3)
    }

    func testEscapes() {
        XCTAssertEqual(value(#""\"\\\/\b\f\n\r\t""#), .string([0x22, 0x5C, 0x2F, 8, 12, 10, 13, 9]))
        XCTAssertEqual(value(#""\u0041\u00e9\u20AC\uD83D\uDE00""#), .s("Aé€😀"))
        XCTAssertEqual(value(#""\u0000""#), .string([0]))
        XCTAssertEqual(value(#""x\ud800\udc00y""#), .s("x\u{10000}y"))
        XCTAssertEqual(value(#""\udbff\udfff""#), .s("\u{10FFFF}"))
        XCTAssertEqual(value(#"["a\nb", "plain", "c\td"]"#), .array([.s("a\nb"), .s("plain"), .s("c\td")]))
        XCTAssertEqual(value(#"{"k\"ey":"v\\al"}"#), .object([.init(key: Array("k\"ey".utf8), value: .s("v\\al"))]))
        // Escapes next to raw UTF-8 and long runs.
        let long = String(repeating: "abcdéfgh", count: 50)
        XCTAssertEqual(value("\"\(long)\\n\(long)\""), .s(long + "\n" + long))

        XCTAssertEqual(error(#""\x""#)?.kind, .invalidEscape)
        XCTAssertEqual(error(#""\x""#)?.offset, 1)
        XCTAssertEqual(error(#""ab\u12G4""#)?.kind, .invalidEscape)
        XCTAssertEqual(error(#""ab\u12G4""#)?.offset, 3)
        XCTAssertEqual(error(#""\u12""#)?.kind, .invalidEscape)
        let lone = error(#""ab\ud800""#)
        XCTAssertEqual(lone?.kind, .invalidSurrogate)
        XCTAssertEqual(lone?.offset, 3)
        XCTAssertEqual(error(#""\ud800x""#)?.kind, .invalidSurrogate)
        XCTAssertEqual(error(#""\ud800\u0041""#)?.kind, .invalidSurrogate)
        XCTAssertEqual(error(#""\ud800\ud800""#)?.kind, .invalidSurrogate)
        let low = error(#""\udc00""#)
        XCTAssertEqual(low?.kind, .invalidSurrogate)
        XCTAssertEqual(low?.offset, 1)
    }

    func testControlCharactersRejected() {
        for c in UInt8(0)..<0x20 {
            let e = error([0x22, 0x61, c, 0x22])
            XCTAssertEqual(e?.kind, .controlCharacterInString, "\(c)")
            XCTAssertEqual(e?.offset, 2)
            // Also after an escape (slow path).
            XCTAssertEqual(error([0x22, 0x5C, 0x6E, c, 0x22])?.offset, 3)
        }
        XCTAssertEqual(value("\"\u{7F}\""), .string([0x7F]))
    }

    func testUTF8() {
        XCTAssertEqual(value("\"ünïcödé 日本語 😀\""), .s("ünïcödé 日本語 😀"))
        let bad: [[UInt8]] = [
            [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], [0xC2], [0xC2, 0x41], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF],
            [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], [0xE1, 0x80], [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE], [0xF1, 0x80, 0x80],
        ]
        for b in bad {
            let doc: [UInt8] = [0x22, 0x61] + b + [0x22]
            let e = error(doc)
            XCTAssertEqual(e?.kind, .invalidUTF8, "\(b)")
            XCTAssertEqual(e?.offset, 2, "\(b)")
            // After an escape (slow path).
            let doc2: [UInt8] = [0x22, 0x5C, 0x74] + b + [0x22]
            XCTAssertEqual(error(doc2)?.kind, .invalidUTF8, "\(b)")
            // Long string (SWAR scan) with the bad byte far in.
            let doc3: [UInt8] = [0x22] + Array(repeating: 0x61, count: 37) + b + [0x22]
            XCTAssertEqual(error(doc3)?.offset, 38, "\(b)")
        }
        let good: [[UInt8]] = [[0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
                               [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF]]
        for g in good {
            XCTAssertEqual(outcome([0x22] + g + [0x22]).v, .string(g))
        }
        // Non-ASCII outside strings.
        XCTAssertEqual(error([0x5B, 0xC3, 0xA9, 0x5D])?.kind, .unexpectedCharacter)
        // A BOM is not whitespace in RFC 8259 (parsers may ignore it; we reject it).
        XCTAssertEqual(error([0xEF, 0xBB, 0xBF, 0x31])?.offset, 0)
    }

    func testMalformedWithOffsets() {
        let cases: [(String, JSONError.Kind, Int)] = [
            ("", .unexpectedEnd, 0),
            ("   ", .unexpectedEnd, 3),
            ("[1,]", .unexpectedCharacter, 3),
            ("{\"a\":1,}", .unexpectedCharacter, 7),
            ("[1 2]", .unexpectedCharacter, 3),
            ("{\"a\" 1}", .unexpectedCharacter, 5),
            ("{\"a\":}", .unexpectedCharacter, 5),
            ("{a:1}", .unexpectedCharacter, 1),
            ("{1:1}", .unexpectedCharacter, 1),
            ("[1}", .unexpectedCharacter, 2),
            ("{\"a\":1]", .unexpectedCharacter, 6),
            ("[", .unexpectedEnd, 1),
            ("[1", .unexpectedEnd, 2),
            ("[1,", .unexpectedEnd, 3),
            ("{", .unexpectedEnd, 1),
            ("{\"a\"", .unexpectedEnd, 4),
            ("{\"a\":", .unexpectedEnd, 5),
            ("\"abc", .unexpectedEnd, 4),
            ("\"abc\\", .unexpectedEnd, 5),
            ("1 2", .trailingCharacters, 2),
            ("[] []", .trailingCharacters, 3),
            ("{}x", .trailingCharacters, 2),
            ("01", .invalidNumber, 0),
            ("-01", .invalidNumber, 0),
            ("[00]", .invalidNumber, 1),
            ("1.", .unexpectedEnd, 2),
            ("1.e5", .unexpectedCharacter, 2),
            (".5", .unexpectedCharacter, 0),
            ("+1", .unexpectedCharacter, 0),
            ("-", .unexpectedEnd, 1),
            ("-a", .unexpectedCharacter, 1),
            ("1e", .unexpectedEnd, 2),
            ("1e+", .unexpectedEnd, 3),
            ("1ex", .unexpectedCharacter, 2),
            ("1.5.3", .trailingCharacters, 3),
            ("0x10", .trailingCharacters, 1),
            ("NaN", .unexpectedCharacter, 0),
            ("Infinity", .unexpectedCharacter, 0),
            ("-Infinity", .unexpectedCharacter, 1),
            ("[nan]", .unexpectedCharacter, 2),
            ("tru", .unexpectedEnd, 3),
            ("trux", .unexpectedCharacter, 3),
            ("truex", .trailingCharacters, 4),
            ("nul", .unexpectedEnd, 3),
            ("fals", .unexpectedEnd, 4),
            ("falsy", .unexpectedCharacter, 4),
            ("True", .unexpectedCharacter, 0),
            ("[1,,2]", .unexpectedCharacter, 3),
            ("[,1]", .unexpectedCharacter, 1),
            ("// c\n1", .unexpectedCharacter, 0),
            ("[1 /* c */]", .unexpectedCharacter, 3),
            ("'a'", .unexpectedCharacter, 0),
            ("[\"a\"\"b\"]", .unexpectedCharacter, 4),
            ("\u{0C}1", .unexpectedCharacter, 0), // form feed is not JSON whitespace
            ("1\u{0}", .trailingCharacters, 1),
        ]
        for (s, kind, off) in cases {
            guard let e = error(s) else { continue }
            XCTAssertEqual(e.kind, kind, "\(s.debugDescription): \(e)")
            XCTAssertEqual(e.offset, off, "\(s.debugDescription): \(e)")
            XCTAssertTrue(e.message.contains("at byte \(off) "), e.message)
        }
    }

    func testLineAndColumn() {
        let e = error("{\n  \"a\": 1,\n  \"b\": x\n}")
        XCTAssertEqual(e?.offset, 19)
        XCTAssertEqual(e?.line, 3)
        XCTAssertEqual(e?.column, 8)
        XCTAssertEqual(e?.message, "unexpected character 'x' at byte 19 (line 3, column 8): expected a value")
        let e2 = error("[1,\n2,\n]")
        XCTAssertEqual(e2?.line, 3)
        XCTAssertEqual(e2?.column, 1)
    }

    func testDepthLimit() {
        let bomb = Array(repeating: UInt8(ascii: "["), count: 100_000)
        let e = error(bomb)
        XCTAssertEqual(e?.kind, .depthLimitExceeded)
        XCTAssertEqual(e?.offset, 512)
        let obj = Array(String(repeating: "{\"a\":", count: 100_000).utf8)
        XCTAssertEqual(error(obj)?.kind, .depthLimitExceeded)
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        XCTAssertNotNil(value(ok))
        let over = String(repeating: "[", count: 513) + String(repeating: "]", count: 513)
        XCTAssertEqual(error(over)?.kind, .depthLimitExceeded)
        // A deep document within a raised limit parses (no recursion in the parser).
        let deep = String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000)
        Array(deep.utf8).withUnsafeBytes { raw in
            do {
                let t = try JSON.parse(raw, options: .init(maxDepth: 1_000_000))
                XCTAssertEqual(t.wordCount, 600_000)
                XCTAssertEqual(t.count(at: 0), 1)
                XCTAssertEqual(t.skip(0), 600_000)
            } catch { XCTFail("\(error)") }
        }
    }

    func testSizeLimits() {
        XCTAssertEqual(outcome(Array("[1,2]".utf8), options: .init(maxInputSize: 4)).e?.kind, .inputTooLarge)
        XCTAssertNotNil(outcome(Array("[1,2]".utf8), options: .init(maxInputSize: 5)).v)
        XCTAssertEqual(outcome(Array("[\"abcdef\"]".utf8), options: .init(maxStringLength: 5)).e?.kind, .stringTooLong)
        XCTAssertEqual(outcome(Array("[\"abcdef\"]".utf8), options: .init(maxStringLength: 5)).e?.offset, 1)
        XCTAssertEqual(outcome(Array("[\"ab\\ncdef\"]".utf8), options: .init(maxStringLength: 6)).e?.kind, .stringTooLong)
        XCTAssertNotNil(outcome(Array("[\"ab\\ncd\"]".utf8), options: .init(maxStringLength: 5)).v)
    }

    func testTapeWalkAndReuse() throws {
        let a = Array("{\"ids\":[1,2,3],\"n\":null,\"s\":\"x\\ty\"}".utf8)
        let b = Array("[\"q\\\"\",7]".utf8)
        var tape = JSONTape()
        try a.withUnsafeBytes { raw in
            try tape.parse(raw)
            XCTAssertEqual(tape.kind(at: 0), .objectStart)
            XCTAssertEqual(tape.count(at: 0), 3)
            var i = tape.next(after: 0)
            XCTAssertEqual(tape.string(at: i), "ids")
            i = tape.next(after: i)
            XCTAssertEqual(tape.kind(at: i), .arrayStart)
            XCTAssertEqual(tape.count(at: i), 3)
            let afterArray = tape.skip(i)
            XCTAssertEqual(tape.string(at: afterArray), "n")
            var sum: Int64 = 0
            var j = tape.next(after: i)
            while tape.kind(at: j) != .arrayEnd { sum += tape.int(at: j); j = tape.next(after: j) }
            XCTAssertEqual(sum, 6)
            XCTAssertEqual(tape.skip(0), tape.wordCount)
        }
        let copy = tape
        try b.withUnsafeBytes { raw in
            try tape.parse(raw)
            XCTAssertEqual(tape.kind(at: 0), .arrayStart)
            XCTAssertEqual(tape.string(at: 2), "q\"")
        }
        // The copy kept its own storage.
        XCTAssertEqual(copy.count(at: 0), 3)
        // A failed parse leaves the tape empty.
        let bad = Array("[1,".utf8)
        bad.withUnsafeBytes { raw in
            do { try tape.parse(raw); XCTFail("parsed") } catch { XCTAssertEqual((error as? JSONError)?.kind, .unexpectedEnd) }
        }
        XCTAssertEqual(tape.wordCount, 0)
    }

    func testCorpusRoundTrips() throws {
        let files = corpusFiles()
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for (name, bytes) in files {
            let once = try reencode(bytes)
            XCTAssertEqual(try reencode(once), once, name)
            XCTAssertEqual(outcome(once).v, outcome(bytes).v, name)
            let pretty = try reencode(bytes, pretty: true)
            XCTAssertEqual(try reencode(pretty), once, name)
            // Foundation agrees the output is JSON.
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(once), options: [.fragmentsAllowed]), name)
        }
    }

    func testEveryTruncationFails() throws {
        for (name, bytes) in corpusFiles() {
            let end = bytes.lastIndex { $0 > 0x20 }!
            for len in 0...end {
                if case .value(let v) = outcome(Array(bytes[0..<len])) {
                    XCTFail("\(name): prefix of \(len) bytes parsed as \(v)")
                }
            }
        }
    }

    func testRandomMutationsNeverCrash() throws {
        var rng = SplitMix(seed: 42)
        let files = corpusFiles().map(\.1)
        let interesting: [UInt8] = Array("{}[]\",:\\0123456789.eE+-tfnu \n".utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        var parsed = 0
        for _ in 0..<5000 {
            var doc = files.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let pos = Int.random(in: 0..<doc.count, using: &rng)
                let b = Bool.random(using: &rng) ? interesting.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: doc[pos] = b
                case 1: doc.insert(b, at: pos)
                case 2: doc.remove(at: pos)
                default: doc.insert(contentsOf: doc[pos..<min(doc.count, pos + 8)], at: pos)
                }
                if doc.isEmpty { doc = [0x31] }
            }
            switch outcome(doc) {
            case .value(let v):
                parsed += 1
                // Whatever parses re-encodes to something that parses to the same value.
                let out = try reencode(doc)
                XCTAssertEqual(outcome(out).v, v)
            case .error(let e):
                XCTAssert(e.offset >= 0 && e.offset <= doc.count, "\(e)")
            }
        }
        XCTAssertGreaterThan(parsed, 50)
    }

    /// A small JSONTestSuite-style sample of must-accept documents.
    func testAcceptSamples() {
        for s in ["[[]   ]", "[\"\"]", "[-1]", "[-0]", "[1E22]", "[1e-2]", "[123e65]", "[0e+1]", "{\"\":0}",
                  "{\"a\":\"b\",\"a\":\"c\"}", "[\"\\u0060\\u012a\\u12AB\"]", "[\"\\uDBFF\\uDFFF\"]", "\"\u{10FFFF}\"",
                  " [1] ", "[1.5e+9999999999]".replacingOccurrences(of: "9999999999", with: "9"), "[\"a\\/b\"]"] {
            XCTAssertNotNil(value(s), s)
        }
    }
}

extension Outcome {
    var v: V? { if case .value(let v) = self { return v }; return nil }
    var e: JSONError? { if case .error(let e) = self { return e }; return nil }
}
