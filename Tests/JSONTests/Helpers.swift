import Foundation
import JSON
import XCTest

/// A tree built from a tape, for assertions (tests only).
indirect enum V: Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int64)
    case double(UInt64) // bit pattern, so -0.0 and 0.0 differ
    case big(String)
    case string([UInt8])
    case array([V])
    case object([Member])

    struct Member: Equatable { var key: [UInt8]; var value: V }

    static func d(_ x: Double) -> V { .double(x.bitPattern) }
    static func s(_ x: String) -> V { .string(Array(x.utf8)) }

    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "\(b)"
        case .int(let i): return "int(\(i))"
        case .double(let b): return "double(\(Double(bitPattern: b)))"
        case .big(let s): return "big(\(s))"
        case .string(let s): return "string(\(String(decoding: s, as: UTF8.self)))"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .object(let m):
            return "{" + m.map { String(decoding: $0.key, as: UTF8.self) + ": " + $0.value.description }
                .joined(separator: ", ") + "}"
        }
    }
}

/// Builds a tree from the value at `i`; returns it and the index after it. Checks counts and
/// end links on the way.
func tree(_ t: JSONTape, _ i: Int) -> (V, Int) {
    switch t.kind(at: i) {
    case .null: return (.null, t.next(after: i))
    case .false: return (.bool(false), t.next(after: i))
    case .true: return (.bool(true), t.next(after: i))
    case .int: return (.int(t.int(at: i)), t.next(after: i))
    case .double: return (.double(t.double(at: i).bitPattern), t.next(after: i))
    case .bigInteger: return (.big(String(decoding: t.bytes(at: i), as: UTF8.self)), t.next(after: i))
    case .string: return (.string(Array(t.bytes(at: i))), t.next(after: i))
    case .arrayStart:
        var a: [V] = []
        var j = t.next(after: i)
        while t.kind(at: j) != .arrayEnd {
            let (v, k) = tree(t, j)
            XCTAssertEqual(t.skip(j), k)
            a.append(v)
            j = k
        }
        XCTAssertEqual(t.count(at: i), a.count, "array count")
        XCTAssertEqual(t.endIndex(ofContainerAt: i), j, "array end link")
        XCTAssertEqual(t.skip(i), j + 1)
        return (.array(a), j + 1)
    case .objectStart:
        var m: [V.Member] = []
        var j = t.next(after: i)
        while t.kind(at: j) != .objectEnd {
            XCTAssertEqual(t.kind(at: j), .string, "key must be a string")
            let key = Array(t.bytes(at: j))
            let (v, k) = tree(t, t.next(after: j))
            m.append(.init(key: key, value: v))
            j = k
        }
        XCTAssertEqual(t.count(at: i), m.count, "object count")
        XCTAssertEqual(t.endIndex(ofContainerAt: i), j, "object end link")
        return (.object(m), j + 1)
    case .arrayEnd, .objectEnd:
        XCTFail("unexpected end entry at \(i)")
        return (.null, i + 1)
    }
}

enum Outcome {
    case value(V)
    case error(JSONError)
}

func outcome(_ bytes: [UInt8], options: JSONParseOptions = .init()) -> Outcome {
    bytes.withUnsafeBytes { raw in
        do {
            let t = try JSON.parse(raw, options: options)
            let (v, end) = tree(t, 0)
            XCTAssertEqual(end, t.wordCount, "tape has exactly one root value")
            return .value(v)
        } catch let e as JSONError {
            return .error(e)
        } catch {
            fatalError("\(error)")
        }
    }
}

func value(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> V? {
    switch outcome(Array(s.utf8)) {
    case .value(let v): return v
    case .error(let e):
        XCTFail("unexpected error for \(s.prefix(80)): \(e)", file: file, line: line)
        return nil
    }
}

func error(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> JSONError? {
    switch outcome(bytes) {
    case .value(let v):
        XCTFail("expected an error for \(String(decoding: bytes.prefix(80), as: UTF8.self)), got \(v)", file: file, line: line)
        return nil
    case .error(let e): return e
    }
}

func error(_ s: String, file: StaticString = #filePath, line: UInt = #line) -> JSONError? {
    error(Array(s.utf8), file: file, line: line)
}

/// Parses and re-encodes (compact or pretty) through the tape walker.
func reencode(_ bytes: [UInt8], pretty: Bool = false) throws -> [UInt8] {
    try bytes.withUnsafeBytes { raw in
        let t = try JSON.parse(raw)
        var w = JSONWriter(pretty: pretty)
        try t.write(to: &w)
        return w.bytes
    }
}

func reencode(_ s: String, pretty: Bool = false) throws -> String {
    String(decoding: try reencode(Array(s.utf8), pretty: pretty), as: UTF8.self)
}

/// Deterministic PRNG (SplitMix64).
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

let corpusDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus")

func corpusFiles() -> [(String, [UInt8])] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: corpusDir.path)) ?? []
    return names.sorted().filter { $0.hasSuffix(".json") }.map { name in
        (name, Array(try! Data(contentsOf: corpusDir.appendingPathComponent(name))))
    }
}
