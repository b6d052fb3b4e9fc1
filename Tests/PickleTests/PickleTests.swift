import Foundation
import XCTest
@testable import Pickle

/// The seeds in corpus/ were written by CPython through arq's own serialize_job/serialize_result
/// (corpus/make_corpus.py); NAME.expected is Python's canonical view of NAME.pickle.
final class PickleTests: XCTestCase {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus")

    func seeds(_ filter: (String) -> Bool) throws -> [(String, [UInt8])] {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
            .filter { $0.hasSuffix(".pickle") && filter($0) }.sorted()
        return try names.map { ($0, Array(try Data(contentsOf: Self.corpus.appendingPathComponent($0)))) }
    }

    /// The same canonical text as make_corpus.py's canon().
    func canon(_ v: PickleValue) -> String {
        func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }
        switch v {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return "i:\(i)"
        case .bigInt(let b): return "i:\(PickleInt.decimal(b))"
        case .float(let d): return "f:" + String(format: "%016llx", d.bitPattern)
        case .str(let b): return "s:" + hex(b)
        case .bytes(let b): return "b:" + hex(b)
        case .bytearray(let b): return "ba:" + hex(b)
        case .list(let a): return "[" + a.map(canon).joined(separator: ",") + "]"
        case .tuple(let a): return "(" + a.map(canon).joined(separator: ",") + ")"
        case .dict(let e): return "{" + e.map { canon($0.key) + "=" + canon($0.value) }.joined(separator: ",") + "}"
        case .set(let a): return "set<" + a.map(canon).sorted().joined(separator: ",") + ">"
        case .frozenset(let a): return "fs<" + a.map(canon).sorted().joined(separator: ",") + ">"
        case .global(let m, let n): return "global:\(m).\(n)"
        case .object(let o):
            let state: String
            if let s = o.state, case .dict(let d) = s, !d.isEmpty { state = canon(s) } else { state = "" }
            return "obj:\(o.module).\(o.name)" + canon(.tuple(o.args)) + state
        }
    }

    func expected(_ name: String) throws -> String {
        let url = Self.corpus.appendingPathComponent(name.replacingOccurrences(of: ".pickle", with: ".expected"))
        return try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testCorpusDecodesAsCPythonSeesIt() throws {
        let good = try seeds { !$0.hasPrefix("evil_") }
        XCTAssertGreaterThanOrEqual(good.count, 12)
        for (name, bytes) in good {
            let v = try PickleCodec.decode(bytes)
            XCTAssertEqual(canon(v), try expected(name), name)
        }
    }

    func testARQJobAndResultFields() throws {
        let job = try ARQJob.decode(try seeds { $0 == "job_delete_collection.pickle" }[0].1)
        XCTAssertEqual(job.function, "delete_collection")
        XCTAssertEqual(job.args, [.str("docs_v1")])
        XCTAssertEqual(job.kwargs, [PickleEntry(.str("grace_period_minutes"), .int(60))])
        XCTAssertNil(job.jobTry)
        XCTAssertEqual(job.enqueueTimeMs, 1767225600123)

        let ok = try ARQResult.decode(try seeds { $0 == "result_success.pickle" }[0].1)
        XCTAssertTrue(ok.success)
        XCTAssertEqual(ok.result["status"], .str("success"))
        XCTAssertEqual(ok.jobId, "job-ok")
        XCTAssertEqual(ok.queueName, "arq:queue")
        XCTAssertEqual(ok.finishTimeMs - ok.startTimeMs, 250)
        XCTAssertNil(ok.errorSummary)

        let bad = try ARQResult.decode(try seeds { $0 == "result_value_error.pickle" }[0].1)
        XCTAssertFalse(bad.success)
        XCTAssertEqual(bad.errorSummary, "ValueError: boom")
        let max = try ARQResult.decode(try seeds { $0 == "result_max_tries.pickle" }[0].1)
        XCTAssertEqual(max.errorSummary, "arq.worker.JobExecutionFailed: max 3 retries exceeded")
        XCTAssertEqual(max.job.jobTry, 4)
        let retry = try ARQResult.decode(try seeds { $0 == "result_retry_state.pickle" }[0].1)
        guard case .object(let o) = retry.result else { return XCTFail("not an object") }
        XCTAssertEqual(o.state, .dict([PickleEntry(.str("defer_score"), .int(5000))]))
    }

    /// What we write, we read back identically; and CPython reads it as the original.
    func testReencodeRoundTrips() throws {
        var pythonChecks: [(String, [UInt8], String)] = []
        for (name, bytes) in try seeds({ !$0.hasPrefix("evil_") && !$0.hasPrefix("result_") || $0 == "result_success.pickle" }) {
            let v = try PickleCodec.decode(bytes)
            let again = try PickleCodec.encode(v)
            let back = try PickleCodec.decode(again)
            // bytearray is written as bytes (protocol 4 has no bytearray opcode)
            XCTAssertEqual(canon(back).replacingOccurrences(of: "ba:", with: "b:"),
                           canon(v).replacingOccurrences(of: "ba:", with: "b:"), name)
            pythonChecks.append((name, again, try expected(name).replacingOccurrences(of: "ba:", with: "b:")))
        }
        // a failed result holds an exception: it is read, never written
        let failed = try PickleCodec.decode(try seeds { $0 == "result_value_error.pickle" }[0].1)
        XCTAssertThrowsError(try PickleCodec.encode(failed))
        try checkWithPython(pythonChecks)
    }

    /// Runs CPython's pickle.loads on our bytes and compares its canonical view.
    func checkWithPython(_ checks: [(String, [UInt8], String)]) throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") || which("python3") != nil else {
            throw XCTSkip("python3 not installed")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pickle-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (i, c) in checks.enumerated() { try Data(c.1).write(to: dir.appendingPathComponent("\(i).pickle")) }
        let script = """
        import pickle, sys
        sys.path.insert(0, sys.argv[1])
        from canon import canon
        for i in range(int(sys.argv[3])):
            v = pickle.loads(open('%s/%d.pickle' % (sys.argv[2], i), 'rb').read())
            print(canon(v).replace('ba:', 'b:'))
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script, Self.corpus.path, dir.path, "\(checks.count)"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, checks.count)
        for (i, c) in checks.enumerated() where i < lines.count {
            XCTAssertEqual(lines[i], c.2, "CPython reads our \(c.0) differently")
        }
    }

    func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    func testHostilePicklesAreRefused() throws {
        let evil = try seeds { $0.hasPrefix("evil_") }
        XCTAssertGreaterThanOrEqual(evil.count, 10)
        for (name, bytes) in evil {
            do throws(PickleError) {
                let v = try PickleCodec.decode(bytes)
                XCTFail("\(name) decoded to \(v)")
            } catch {
                XCTAssertEqual(error.kind, .refused, "\(name): \(error)")
            }
        }
        let system = try seeds { $0 == "evil_os_system_global.pickle" }[0].1
        do throws(PickleError) {
            _ = try PickleCodec.decode(system)
        } catch {
            XCTAssertTrue(error.message.contains("os.system"), error.message)
        }
    }

    func testTruncatedInputsFailCleanly() throws {
        for (name, bytes) in try seeds({ _ in true }) {
            for n in 0..<bytes.count {
                XCTAssertThrowsError(try PickleCodec.decode(Array(bytes[0..<n])), "\(name) cut at \(n)")
            }
        }
    }

    /// Random mutations of every seed never crash: each either decodes or throws.
    func testMutatedInputsNeverCrash() throws {
        var rng = SplitMix(seed: 0x0A1B2C3D)
        let all = try seeds { _ in true }
        var decoded = 0, refused = 0
        for round in 0..<40_000 {
            var b = all[round % all.count].1
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let i = Int(rng.next() % UInt64(b.count))
                switch rng.next() % 4 {
                case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
                case 1: b[i] ^= UInt8(1 << (rng.next() % 8))
                case 2: b.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
                default: if b.count > 1 { b.remove(at: i) }
                }
            }
            do { _ = try PickleCodec.decode(b); decoded += 1 } catch { refused += 1 }
        }
        XCTAssertGreaterThan(refused, 0)
        XCTAssertGreaterThan(decoded, 0)
    }

    func testLimits() throws {
        // nesting beyond the depth limit: an error, not a stack overflow
        var deep: [UInt8] = [0x80, 4]
        for _ in 0..<100_000 { deep.append(0x5D) }        // EMPTY_LIST
        for _ in 0..<99_999 { deep.append(0x61) }         // APPEND
        deep.append(0x2E)
        XCTAssertThrowsError(try PickleCodec.decode(deep)) { XCTAssertEqual(($0 as! PickleError).kind, .limit) }

        // a "billion laughs": each list holds the previous one twice, via the memo
        var laughs: [UInt8] = [0x80, 4, 0x8C, 1, 0x78, 0x94, 0x30]       // 'x', memo 0, POP
        for k in 0..<40 {
            laughs += [0x28, 0x68, UInt8(k), 0x68, UInt8(k), 0x6C, 0x94]   // MARK GET k GET k LIST MEMOIZE
            if k < 39 { laughs.append(0x30) }                              // POP
        }
        laughs.append(0x2E)
        XCTAssertThrowsError(try PickleCodec.decode(laughs)) { XCTAssertEqual(($0 as! PickleError).kind, .limit) }

        // too many memo entries
        var memo: [UInt8] = [0x80, 4, 0x4E]
        var limits = PickleLimits()
        limits.maxMemo = 100
        for _ in 0..<101 { memo.append(0x94) }
        memo.append(0x2E)
        XCTAssertThrowsError(try PickleCodec.decode(memo, limits: limits)) { XCTAssertEqual(($0 as! PickleError).kind, .limit) }

        // a length that runs past the end is malformed, and nothing is allocated for it
        let huge: [UInt8] = [0x80, 4, 0x8D, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x2E]
        XCTAssertThrowsError(try PickleCodec.decode(huge)) { XCTAssertEqual(($0 as! PickleError).kind, .malformed) }

        // input size
        limits = PickleLimits()
        limits.maxInputBytes = 10
        XCTAssertThrowsError(try PickleCodec.decode([UInt8](repeating: 0x4E, count: 11), limits: limits))

        // an int longer than the limit
        var long: [UInt8] = [0x80, 4, 0x8B, 0x00, 0x10, 0, 0]
        long += [UInt8](repeating: 1, count: 4096)
        long.append(0x2E)
        XCTAssertThrowsError(try PickleCodec.decode(long)) { XCTAssertEqual(($0 as! PickleError).kind, .limit) }

        // an extra allowed global is decoded as a marked value
        limits = PickleLimits()
        limits.allowedGlobals.insert("__main__.MyErr")
        let custom = try seeds { $0 == "evil_custom_exception.pickle" }[0].1
        XCTAssertEqual(try PickleCodec.decode(custom, limits: limits),
                       .object(PickleObject(module: "__main__", name: "MyErr", args: [])))
    }

    func testIntegers() throws {
        for i: Int64 in [0, 1, -1, 127, 128, 255, 256, -256, 65535, 65536, Int64(Int32.max), Int64(Int32.min),
                         Int64(Int32.max) + 1, Int64.max, Int64.min] {
            XCTAssertEqual(try PickleCodec.decode(try PickleCodec.encode(.int(i))), .int(i), "\(i)")
            XCTAssertEqual(PickleInt.parse(decimal: String(i)), .int(i))
        }
        for s in ["18446744073709551616", "-9223372036854775809", "9223372036854775808",
                  "1" + String(repeating: "0", count: 40), "-" + String(repeating: "9", count: 60)] {
            guard let v = PickleInt.parse(decimal: s), case .bigInt(let b) = v else { return XCTFail(s) }
            XCTAssertEqual(PickleInt.decimal(b), s)
            XCTAssertEqual(try PickleCodec.decode(try PickleCodec.encode(v)), v)
        }
        XCTAssertNil(PickleInt.parse(decimal: "12a"))
        XCTAssertNil(PickleInt.parse(decimal: ""))
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
