import Foundation
import JSON
import XCTest

/// Release-mode throughput check, not a timed test: runs only with OPSH_JSON_BENCH=1.
///
///     OPSH_JSON_BENCH=1 swift test -c release --scratch-path .build-json --filter JSONTests.Benchmark
///
/// Writes the generated document to /tmp/opsh-json-bench.json so lua-cjson can be measured on
/// the same bytes:
///
///     lua5.4 -e 'local c=require"cjson"; local f=io.open("/tmp/opsh-json-bench.json","rb");
///       local s=f:read("a"); f:close(); local function best(fn) local b=math.huge
///       for _=1,7 do local t0=os.clock(); fn(); b=math.min(b,os.clock()-t0) end return b end
///       local t; local td=best(function() t=c.decode(s) end); local o
///       local te=best(function() o=c.encode(t) end)
///       print(#s/1e6/td, "MB/s decode", #o/1e6/te, "MB/s encode")'
///
/// Not like for like: cjson's decode builds Lua tables and its encode walks them; ours is
/// parse-to-tape and tape-to-writer, the native halves of what the Lua binding will do.
final class Benchmark: XCTestCase {
    /// A Qdrant-like scroll/search response of about `target` bytes: u64 ids (some above
    /// Int64.max), 128-float vectors printed as f32, nested payloads, escapes and unicode.
    static func qdrantDocument(target: Int) -> [UInt8] {
        var rng = SplitMix(seed: 2024)
        var s = #"{"result":{"points":["#
        var id: UInt64 = 0
        let cities = ["Berlin", "München", "São Paulo", "東京", "New York"]
        while s.utf8.count < target {
            if id > 0 { s += "," }
            let pid = id % 7 == 3 ? UInt64.max - id : id * 7919
            s += #"{"id":\#(pid),"version":\#(rng.next() % 100),"score":\#(Float(bitPattern: 0x3F00_0000 | UInt32(rng.next() & 0x7F_FFFF))),"#
            s += #""payload":{"city":"\#(cities[Int(id % 5)])","text":"Line \#(id) with \"quotes\", a tab\tand a newline\n, \u00e9 and 😀","#
            s += #""tags":["a","b\#(id % 13)","c"],"meta":{"count":\#(rng.next() % 100000),"ok":\#(id % 2 == 0),"none":null,"ratio":\#(Double(rng.next() % 10000) / 100)}},"#
            s += #""vector":["#
            for k in 0..<128 {
                if k > 0 { s += "," }
                // Embedding components: f32 in (-0.25, 0.25), printed shortest as Qdrant does.
                let f = Float(Double(rng.next() >> 11) / 9007199254740992.0 * 0.5 - 0.25)
                s += "\(f)"
            }
            s += "]}"
            id += 1
        }
        s += #"],"next_page_offset":null},"status":"ok","time":0.012345}"#
        return Array(s.utf8)
    }

    func best(_ runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var b = Double.infinity
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            let t = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            b = min(b, t)
        }
        return b
    }

    func testThroughput() throws {
        guard ProcessInfo.processInfo.environment["OPSH_JSON_BENCH"] == "1" else {
            throw XCTSkip("set OPSH_JSON_BENCH=1 (and -c release) to run")
        }
        let doc = Self.qdrantDocument(target: 10_000_000)
        try Data(doc).write(to: URL(fileURLWithPath: "/tmp/opsh-json-bench.json"))
        let mb = Double(doc.count) / 1e6
        try doc.withUnsafeBytes { raw in
            var tape = JSONTape()
            try tape.parse(raw)
            let words = tape.wordCount
            // Decode into a reused tape.
            let tParse = try best(7) { try tape.parse(raw) }
            // Decode into a fresh tape each time.
            let tFresh = try best(7) { _ = try JSON.parse(raw) }
            // Decode and visit every value (what the binding does before pushing Lua values).
            var sink = 0
            let tWalk = try best(7) {
                try tape.parse(raw)
                var i = 0
                let end = tape.wordCount
                while i < end {
                    switch tape.kind(at: i) {
                    case .int: sink &+= Int(truncatingIfNeeded: tape.int(at: i))
                    case .double: sink &+= Int(tape.double(at: i).bitPattern & 1)
                    case .string, .bigInteger: sink &+= tape.bytes(at: i).count
                    case .arrayStart, .objectStart: sink &+= tape.count(at: i)
                    default: sink &+= 1
                    }
                    i = tape.next(after: i)
                }
            }
            // Encode: walk the tape and drive the writer (the same calls the binding makes).
            var w = JSONWriter(capacity: doc.count + 1024)
            let tEncode = try best(7) {
                w.reset()
                try tape.write(to: &w)
            }
            let out = w.bytes
            print(String(format: "JSON bench: %.1f MB, %d tape words (%.1f MB)", mb, words, Double(words * 8) / 1e6))
            print(String(format: "  parse (reused tape): %7.1f ms  %7.1f MB/s", tParse * 1e3, mb / tParse))
            print(String(format: "  parse (fresh tape):  %7.1f ms  %7.1f MB/s", tFresh * 1e3, mb / tFresh))
            print(String(format: "  parse + walk:        %7.1f ms  %7.1f MB/s  (%d)", tWalk * 1e3, mb / tWalk, sink & 1))
            print(String(format: "  encode from tape:    %7.1f ms  %7.1f MB/s (output %.1f MB)", tEncode * 1e3, Double(out.count) / 1e6 / tEncode, Double(out.count) / 1e6))
            // Sanity: the output parses back to the same document.
            let again = try reencode(out)
            XCTAssertEqual(again, out)
        }
    }
}
