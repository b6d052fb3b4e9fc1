import Foundation
import JSON
import XCTest

final class WriterTests: XCTestCase {
    func text(_ w: JSONWriter) -> String { String(decoding: w.bytes, as: UTF8.self) }

    func testCompactStructure() throws {
        var w = JSONWriter()
        w.beginObject()
        w.key("a"); w.int(1)
        w.key("b"); w.beginArray(); w.bool(true); w.bool(false); w.null(); w.beginObject(); w.endObject(); w.beginArray(); w.endArray(); w.endArray()
        w.key("c"); try w.double(1.5)
        w.key("d"); w.string("x/y")
        w.endObject()
        XCTAssertEqual(text(w), #"{"a":1,"b":[true,false,null,{},[]],"c":1.5,"d":"x/y"}"#)
        w.reset()
        w.int(-7)
        XCTAssertEqual(text(w), "-7")
    }

    func testPretty() throws {
        var w = JSONWriter(pretty: true)
        w.beginObject()
        w.key("a"); w.int(1)
        w.key("b"); w.beginArray(); w.int(2); w.beginObject(); w.key("c"); w.null(); w.endObject(); w.endArray()
        w.key("e"); w.beginArray(); w.endArray()
        w.key("f"); w.beginObject(); w.endObject()
        w.endObject()
        XCTAssertEqual(text(w), """
        {
          "a": 1,
          "b": [
            2,
            {
              "c": null
            }
          ],
          "e": [],
          "f": {}
        }
        """)
        XCTAssertEqual(try reencode("[1,[2]]", pretty: true), "[\n  1,\n  [\n    2\n  ]\n]")
    }

    func testEscaping() throws {
        var all: [UInt8] = Array(0..<0x20) + Array("\"\\/aé😀\u{7F}".utf8)
        var w = JSONWriter()
        all.withUnsafeBytes { w.string($0) }
        XCTAssertEqual(text(w),
                       #""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f"#
                       + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f"#
                       + "\\\"\\\\/aé😀\u{7F}\"")
        XCTAssertEqual(outcome(w.bytes).v, .string(all))
        // Keys are escaped too; long strings with escapes at every alignment.
        w.reset()
        w.beginObject(); w.key("k\"\n"); w.int(1); w.endObject()
        XCTAssertEqual(text(w), #"{"k\"\n":1}"#)
        for pad in 0..<20 {
            all = Array(repeating: UInt8(ascii: "x"), count: pad) + [0x22] + Array(repeating: UInt8(ascii: "y"), count: pad) + [0x0A]
            w.reset()
            all.withUnsafeBytes { w.string($0) }
            XCTAssertEqual(outcome(w.bytes).v, .string(all))
        }
        w.reset()
        w.string("")
        XCTAssertEqual(text(w), #""""#)
    }

    func testDoubleForms() throws {
        let cases: [(Double, String)] = [
            (0, "0.0"), (-0.0, "-0.0"), (1, "1.0"), (-1, "-1.0"), (100, "100.0"), (0.1, "0.1"), (1e-5, "1e-05"),
            (123456789012345, "123456789012345.0"), (1e15, "1e+15"), (1e16, "1e+16"), (2.5e-8, "2.5e-08"),
            (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"), (Double.leastNonzeroMagnitude, "5e-324"),
            (Double.leastNormalMagnitude, "2.2250738585072014e-308"), (9007199254740993, "9007199254740992.0"),
        ]
        for (d, s) in cases {
            var w = JSONWriter()
            try w.double(d)
            // Shortest round-trip form, and it parses back as the same double (never an int).
            XCTAssertEqual(text(w), s == "1e+15" ? d.description : s, "\(d)")
            XCTAssertEqual(outcome(w.bytes).v, .d(d), "\(d)")
        }
        for bad in [Double.nan, .infinity, -.infinity, .signalingNaN] {
            var w = JSONWriter()
            XCTAssertThrowsError(try w.double(bad)) { e in
                XCTAssertEqual((e as? JSONError)?.kind, .invalidDouble)
            }
            XCTAssertEqual(w.count, 0)
        }
    }

    func testRandomDoublesRoundTrip() throws {
        var rng = SplitMix(seed: 7)
        var w = JSONWriter()
        var checked = 0
        for k in 0..<200_000 {
            var d: Double
            switch k % 4 {
            case 0: d = Double(bitPattern: rng.next()) // any bit pattern
            case 1: d = Double(Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))) // f32 values (Qdrant vectors)
            case 2: d = Double(bitPattern: rng.next() & 0x000F_FFFF_FFFF_FFFF) // subnormals
            default: d = Double(Int64(bitPattern: rng.next()) >> Int.random(in: 0...63, using: &rng)) // integral
            }
            guard d.isFinite else { continue }
            w.reset()
            try w.double(d)
            let bytes = w.bytes
            guard case .value(.double(let bits)) = outcome(bytes) else {
                XCTFail("\(d) wrote \(String(decoding: bytes, as: UTF8.self))"); continue
            }
            XCTAssertEqual(bits, d.bitPattern, "\(d) wrote \(String(decoding: bytes, as: UTF8.self))")
            checked += 1
        }
        XCTAssertGreaterThan(checked, 190_000)
    }

    func testIntsAndRawNumbers() throws {
        var rng = SplitMix(seed: 3)
        var w = JSONWriter()
        for _ in 0..<10_000 {
            let v = Int64(bitPattern: rng.next()) >> Int.random(in: 0...63, using: &rng)
            w.reset()
            w.int(v)
            XCTAssertEqual(text(w), String(v))
        }
        w.reset()
        w.beginArray()
        for good in ["18446744073709551615", "-0", "1.5e+300", "0", "-12.5E-3"] {
            try Array(good.utf8).withUnsafeBytes { try w.rawNumber($0) }
        }
        w.endArray()
        XCTAssertEqual(text(w), "[18446744073709551615,-0,1.5e+300,0,-12.5E-3]")
        for bad in ["", "-", "01", "1.", ".5", "1e", "+1", "1 ", "NaN", "0x1", "1,2"] {
            XCTAssertThrowsError(try Array(bad.utf8).withUnsafeBytes { try w.rawNumber($0) }, bad) { e in
                XCTAssertEqual((e as? JSONError)?.kind, .invalidRawNumber)
            }
        }
    }

    func testRoundTripAgainstFoundation() throws {
        // Our output is accepted by Foundation and means the same thing.
        let doc = #"{"a":[1,2.5,-0.0,"x\u0001y",true,null,{"b":1e-05}],"big":12345678901234567890}"#
        let out = try reencode(doc)
        let obj = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        XCTAssertEqual((obj?["a"] as? [Any])?.count, 7)
        XCTAssertEqual(out, #"{"a":[1,2.5,-0.0,"x\u0001y",true,null,{"b":1e-05}],"big":12345678901234567890}"#)
    }
}
