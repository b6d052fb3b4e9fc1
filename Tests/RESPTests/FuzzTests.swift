import Foundation
import XCTest
@testable import RESP

/// SplitMix64: a seeded, reproducible generator.
struct SeededRNG: RandomNumberGenerator {
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

/// The wire form of a value (test-side serializer, independent of the parser).
func wire(_ v: RESPValue) -> [UInt8] {
    func line(_ t: String, _ s: [UInt8]) -> [UInt8] { b(t) + s + b("\r\n") }
    switch v {
    case .simpleString(let s): return line("+", s)
    case .error(let s): return line("-", s)
    case .integer(let i): return b(":\(i)\r\n")
    case .bulkString(nil): return b("$-1\r\n")
    case .bulkString(let s?): return b("$\(s.count)\r\n") + s + b("\r\n")
    case .array(nil): return b("*-1\r\n")
    case .array(let a?): return b("*\(a.count)\r\n") + a.flatMap(wire)
    case .null: return b("_\r\n")
    case .map(let p): return b("%\(p.count)\r\n") + p.flatMap { wire($0.key) + wire($0.value) }
    case .set(let a): return b("~\(a.count)\r\n") + a.flatMap(wire)
    case .push(let a): return b(">\(a.count)\r\n") + a.flatMap(wire)
    case .double(let d): return b(",\(d.isNaN ? "nan" : d.isInfinite ? (d < 0 ? "-inf" : "inf") : "\(d)")\r\n")
    case .boolean(let t): return b(t ? "#t\r\n" : "#f\r\n")
    case .bigNumber(let s): return line("(", s)
    case .verbatim(let f, let t): return b("=\(t.count + 4)\r\n") + f + b(":") + t + b("\r\n")
    case .attribute(let p, let v): return b("|\(p.count)\r\n") + p.flatMap { wire($0.key) + wire($0.value) } + wire(v)
    }
}

func randomValue(_ r: inout SeededRNG, depth: Int = 0) -> RESPValue {
    func bytes(_ r: inout SeededRNG, _ max: Int, line: Bool) -> [UInt8] {
        let n = Int.random(in: 0...max, using: &r)
        return (0..<n).map { _ in
            var c = UInt8.random(in: 0...255, using: &r)
            if line && (c == 13 || c == 10) { c = 0x41 }
            return c
        }
    }
    let kind = Int.random(in: 0..<(depth > 4 ? 10 : 16), using: &r)
    switch kind {
    case 0: return .simpleString(bytes(&r, 20, line: true))
    case 1: return .error(b("ERR ") + bytes(&r, 10, line: true))
    case 2: return .integer(Int64.random(in: .min ... .max, using: &r))
    case 3: return Bool.random(using: &r) ? .bulkString(bytes(&r, 300, line: false)) : .bulkString(nil)
    case 4: return .null
    case 5: return .double([1.5, -0.0, 1e-300, .infinity, -.infinity, Double(Int32.random(in: .min ... .max, using: &r)) / 7][Int.random(in: 0..<6, using: &r)])
    case 6: return .boolean(Bool.random(using: &r))
    case 7: return .bigNumber(b(String(UInt64.random(in: 0 ... .max, using: &r)) + String(UInt64.random(in: 0 ... .max, using: &r))))
    case 8: return .verbatim(format: b("txt"), text: bytes(&r, 50, line: false))
    case 9: return .array(nil)
    default:
        let n = Int.random(in: 0...6, using: &r)
        let items = (0..<n).map { _ in randomValue(&r, depth: depth + 1) }
        switch kind {
        case 10, 11: return .array(items)
        case 12: return .set(items)
        case 13: return .push(items)
        case 14: return .map(items.map { RESPPair($0, randomValue(&r, depth: depth + 1)) })
        default:
            return .attribute([RESPPair(.simpleString(b("a")), randomValue(&r, depth: depth + 1))], .array(items))
        }
    }
}

/// NaN-tolerant equality for round trips.
func same(_ a: RESPValue, _ c: RESPValue) -> Bool {
    if case .double(let x) = a, case .double(let y) = c { return x == y || (x.isNaN && y.isNaN) }
    return a == c
}

final class FuzzTests: XCTestCase {
    func testRandomRepliesRoundTripInRandomChunks() throws {
        var r = SeededRNG(seed: 0x0B5E_55ED)
        for i in 0..<3000 {
            let values = (0..<Int.random(in: 1...4, using: &r)).map { _ in randomValue(&r) }
            let bytes = values.flatMap(wire)
            let chunk = Int.random(in: 1...max(1, bytes.count), using: &r)
            let got = try parseChunked(bytes, chunk: chunk)
            XCTAssertEqual(got.count, values.count, "case \(i)")
            for (x, y) in zip(got, values) where !same(x, y) { XCTFail("case \(i): \(x) != \(y)"); break }
        }
    }

    /// Mutated replies: flipped, inserted, deleted and truncated bytes. The parser must return
    /// values or a protocol error, never crash, hang or allocate without bound (tight limits
    /// make an announced length either fail or stay small).
    func testMutatedRepliesNeverCrash() throws {
        var r = SeededRNG(seed: 42)
        let limits = RESPParserLimits(maxBulkLength: 1 << 20, maxAggregateCount: 1 << 16, maxDepth: 32, maxLineLength: 4096)
        var seeds = FuzzTests.corpus()
        for _ in 0..<50 { seeds.append(wire(randomValue(&r))) }
        var errors = 0, values = 0
        for i in 0..<5000 {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &r)]
            for _ in 0..<Int.random(in: 1...4, using: &r) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &r)
                switch Int.random(in: 0..<5, using: &r) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &r)
                case 1:
                    let alphabet = b("*$%~>|:,#(=!_-+\r\n0123456789-?")
                    bytes.insert(alphabet[Int.random(in: 0..<alphabet.count, using: &r)], at: at)
                case 2: bytes.remove(at: at)
                case 3: bytes = Array(bytes[..<at])
                default: bytes[at] = bytes[at] ^ (1 << UInt8.random(in: 0..<8, using: &r))
                }
            }
            let p = RESPParser(limits: limits)
            let chunk = Int.random(in: 1...max(1, bytes.count), using: &r)
            var k = 0
            do {
                while k < bytes.count {
                    let j = min(bytes.count, k + chunk)
                    bytes[k..<j].withUnsafeBytes { p.feed($0) }
                    while try p.next() != nil { values += 1 }
                    k = j
                }
            } catch {
                errors += 1
                XCTAssertLessThanOrEqual(error.offset, bytes.count + 2, "case \(i)")
            }
            XCTAssertLessThanOrEqual(p.bufferedByteCount, bytes.count, "case \(i)")
        }
        XCTAssertGreaterThan(errors, 100)
        XCTAssertGreaterThan(values, 100)
    }

    /// Pure random bytes, and random bytes after a valid type byte.
    func testRandomBytesNeverCrash() {
        var r = SeededRNG(seed: 7)
        let types = b("*$%~>|:,#(=!_-+")
        for _ in 0..<3000 {
            var bytes = (0..<Int.random(in: 0...64, using: &r)).map { _ in UInt8.random(in: 0...255, using: &r) }
            if Bool.random(using: &r) { bytes.insert(types[Int.random(in: 0..<types.count, using: &r)], at: 0) }
            let p = RESPParser(limits: RESPParserLimits(maxBulkLength: 1 << 16, maxAggregateCount: 1 << 10, maxDepth: 8, maxLineLength: 256))
            p.feed(bytes)
            do { while try p.next() != nil {} } catch {}
        }
    }

    /// Seed replies kept in Tests/RESPTests/corpus (one reply stream per file).
    static func corpus() -> [[UInt8]] {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.sorted().compactMap { try? Array(Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    func testCorpusSeedsParse() throws {
        let seeds = FuzzTests.corpus()
        XCTAssertGreaterThanOrEqual(seeds.count, 10)
        for s in seeds { XCTAssertFalse(try parseAll(s).isEmpty) }
    }
}
