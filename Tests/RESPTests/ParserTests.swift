import XCTest
@testable import RESP

func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Parses every reply in `input` fed at once.
func parseAll(_ input: [UInt8], limits: RESPParserLimits = RESPParserLimits()) throws -> [RESPValue] {
    let p = RESPParser(limits: limits)
    p.feed(input)
    var out: [RESPValue] = []
    while let v = try p.next() { out.append(v) }
    XCTAssertEqual(p.bufferedByteCount, 0)
    return out
}

/// Parses every reply in `input` fed in chunks of `chunk` bytes, calling next() after each feed.
func parseChunked(_ input: [UInt8], chunk: Int, limits: RESPParserLimits = RESPParserLimits()) throws -> [RESPValue] {
    let p = RESPParser(limits: limits)
    var out: [RESPValue] = []
    var i = 0
    while i < input.count {
        let j = min(input.count, i + chunk)
        input[i..<j].withUnsafeBytes { p.feed($0) }
        while let v = try p.next() { out.append(v) }
        i = j
    }
    return out
}

final class ParserTests: XCTestCase {
    let resp2: [(String, RESPValue)] = [
        ("+OK\r\n", .simpleString(b("OK"))),
        ("+\r\n", .simpleString([])),
        ("-ERR unknown command 'FOO'\r\n", .error(b("ERR unknown command 'FOO'"))),
        ("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
         .error(b("WRONGTYPE Operation against a key holding the wrong kind of value"))),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":9223372036854775807\r\n", .integer(Int64.max)),
        (":-9223372036854775808\r\n", .integer(Int64.min)),
        ("$5\r\nhello\r\n", .bulkString(b("hello"))),
        ("$0\r\n\r\n", .bulkString([])),
        ("$-1\r\n", .bulkString(nil)),
        ("$4\r\na\r\nb\r\n", .bulkString(b("a\r\nb"))),
        ("*-1\r\n", .array(nil)),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n$-1\r\n",
         .array([.integer(1), .bulkString(b("foo")), .array([.simpleString(b("a")), .bulkString(nil)])])),
    ]

    let resp3: [(String, RESPValue)] = [
        ("_\r\n", .null),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        (",1.5\r\n", .double(1.5)),
        (",-0.25\r\n", .double(-0.25)),
        (",10\r\n", .double(10)),
        (",1e300\r\n", .double(1e300)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber(b("3492890328409238509324850943850943825024385"))),
        ("(-1\r\n", .bigNumber(b("-1"))),
        ("=15\r\ntxt:Some string\r\n", .verbatim(format: b("txt"), text: b("Some string"))),
        ("=4\r\nmkd:\r\n", .verbatim(format: b("mkd"), text: [])),
        ("!21\r\nSYNTAX invalid syntax\r\n", .error(b("SYNTAX invalid syntax"))),
        ("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
         .map([RESPPair(.simpleString(b("first")), .integer(1)), RESPPair(.simpleString(b("second")), .integer(2))])),
        ("%0\r\n", .map([])),
        ("~3\r\n+a\r\n+b\r\n:3\r\n", .set([.simpleString(b("a")), .simpleString(b("b")), .integer(3)])),
        (">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
         .push([.bulkString(b("message")), .bulkString(b("ch")), .bulkString(b("hi"))])),
        ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n",
         .attribute([RESPPair(.simpleString(b("key-popularity")),
                              .map([RESPPair(.bulkString(b("a")), .double(0.1923))]))],
                    .array([.integer(2039123), .integer(9543892)]))),
        ("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nx\r\n:2\r\n",
         .array([.attribute([RESPPair(.simpleString(b("ttl")), .integer(3600))], .bulkString(b("x"))), .integer(2)])),
        ("*1\r\n%1\r\n~1\r\n#t\r\n>1\r\n_\r\n",
         .array([.map([RESPPair(.set([.boolean(true)]), .push([.null]))])])),
    ]

    func testEveryTypeOneShotAndByteAtATime() throws {
        for (wire, expected) in resp2 + resp3 {
            XCTAssertEqual(try parseAll(b(wire)), [expected], wire)
            XCTAssertEqual(try parseChunked(b(wire), chunk: 1), [expected], wire)
        }
        // All of them back to back, in every chunk size up to 17.
        let stream = (resp2 + resp3).flatMap { b($0.0) }
        let expected = (resp2 + resp3).map(\.1)
        XCTAssertEqual(try parseAll(stream), expected)
        for chunk in 1...17 { XCTAssertEqual(try parseChunked(stream, chunk: chunk), expected, "chunk \(chunk)") }
    }

    func testNaNDouble() throws {
        let v = try parseAll(b(",nan\r\n"))
        guard case .double(let d) = v[0] else { return XCTFail() }
        XCTAssertTrue(d.isNaN)
    }

    func testErrorCodeAndAccessors() throws {
        let v = try parseAll(b("-WRONGTYPE Operation against a key\r\n"))[0]
        XCTAssertEqual(v.errorCode, "WRONGTYPE")
        XCTAssertTrue(v.isError)
        XCTAssertEqual(RESPValue.bulkString(b("12")).int, 12)
        XCTAssertTrue(RESPValue.bulkString(nil).isNull)
        XCTAssertEqual(RESPValue.map([RESPPair(.integer(1), .integer(2))]).elements, [.integer(1), .integer(2)])
    }

    func testBinarySafeBulk() throws {
        var wire = b("$6\r\n")
        wire += [0, 13, 10, 255, 0, 36]
        wire += b("\r\n")
        XCTAssertEqual(try parseAll(wire), [.bulkString([0, 13, 10, 255, 0, 36])])
        XCTAssertEqual(try parseChunked(wire, chunk: 1), [.bulkString([0, 13, 10, 255, 0, 36])])
    }

    func testHugeArrayInChunks() throws {
        let n = 200_000
        var wire = b("*\(n)\r\n")
        for i in 0..<n { wire += b(i % 2 == 0 ? "$\(String(i).utf8.count)\r\n\(i)\r\n" : ":\(i)\r\n") }
        for chunk in [n * 100, 4096, 1000, 7] {
            let v = try parseChunked(wire, chunk: chunk)
            XCTAssertEqual(v.count, 1)
            guard case .array(let items?) = v[0] else { return XCTFail() }
            XCTAssertEqual(items.count, n)
            XCTAssertEqual(items[n - 1], .integer(Int64(n - 1)))
            XCTAssertEqual(items[10], .bulkString(b("10")))
        }
    }

    func testHundredMegabyteBulkInChunks() throws {
        let size = 100 << 20
        var wire = b("$\(size)\r\n")
        let header = wire.count
        wire += [UInt8](repeating: 0x61, count: size)
        wire[header + 12345] = 0
        wire += b("\r\n+OK\r\n")
        for chunk in [65536, 1 << 20, wire.count] {
            let v = try parseChunked(wire, chunk: chunk)
            XCTAssertEqual(v.count, 2)
            guard case .bulkString(let data?) = v[0] else { return XCTFail() }
            XCTAssertEqual(data.count, size)
            XCTAssertEqual(data[12345], 0)
            XCTAssertEqual(data[size - 1], 0x61)
            XCTAssertEqual(v[1], .simpleString(b("OK")))
        }
    }

    func testIncompleteReturnsNilThenCompletes() throws {
        let p = RESPParser()
        p.feed(b("*2\r\n$3\r\nfo"))
        XCTAssertNil(try p.next())
        XCTAssertFalse(p.isIdle)
        p.feed(b("o\r\n:7"))
        XCTAssertNil(try p.next())
        p.feed(b("\r\n"))
        XCTAssertEqual(try p.next(), .array([.bulkString(b("foo")), .integer(7)]))
        XCTAssertTrue(p.isIdle)
    }

    func expectProtocolError(_ wire: [UInt8], limits: RESPParserLimits = RESPParserLimits(),
                             contains: String, file: StaticString = #filePath, line: UInt = #line) {
        let p = RESPParser(limits: limits)
        p.feed(wire)
        do {
            while try p.next() != nil {}
            XCTFail("no error for \(String(decoding: wire.prefix(60), as: UTF8.self))", file: file, line: line)
        } catch {
            XCTAssertTrue(error.message.contains(contains), "\(error)", file: file, line: line)
            // The parser stays failed.
            XCTAssertThrowsError(try p.next(), file: file, line: line)
        }
    }

    func testMalformedGivesClearErrorWithOffset() throws {
        expectProtocolError(b("?what\r\n"), contains: "unknown reply type byte 0x3f")
        expectProtocolError(b(":12a\r\n"), contains: "invalid integer '12a'")
        expectProtocolError(b(":99999999999999999999\r\n"), contains: "invalid integer")
        expectProtocolError(b("$3\r\nfoobar\r\n"), contains: "not followed by CRLF")
        expectProtocolError(b("+OK\n"), contains: "not terminated by CRLF")
        expectProtocolError(b("$-2\r\n"), contains: "negative length")
        expectProtocolError(b("%-1\r\n"), contains: "negative aggregate length")
        expectProtocolError(b("#x\r\n"), contains: "invalid boolean")
        expectProtocolError(b(",1.5x\r\n"), contains: "invalid double")
        expectProtocolError(b(", 1\r\n"), contains: "invalid double")
        expectProtocolError(b("(12a\r\n"), contains: "invalid big number")
        expectProtocolError(b("=3\r\ntxt\r\n"), contains: "verbatim")
        expectProtocolError(b("=5\r\ntxt-x\r\n"), contains: "verbatim")
        expectProtocolError(b("$?\r\n"), contains: "streamed")
        expectProtocolError(b("*?\r\n"), contains: "streamed")
        expectProtocolError(b("_x\r\n"), contains: "null with a payload")
        // The offset points into the stream: the bad integer is on the second reply.
        let p = RESPParser()
        p.feed(b("+OK\r\n:1x\r\n"))
        XCTAssertEqual(try p.next(), .simpleString(b("OK")))
        XCTAssertThrowsError(try p.next()) { e in
            XCTAssertEqual((e as? RESPProtocolError)?.offset, 6)
        }
    }

    func testBoundsWithoutBigAllocations() throws {
        expectProtocolError(b("$999999999999\r\n"), contains: "exceeds the limit")
        expectProtocolError(b("*2147483647\r\n"), contains: "exceeds the limit")
        expectProtocolError(b("%2147483647\r\n"), contains: "exceeds the limit")
        expectProtocolError(b("$9999999999999999999999\r\n"), contains: "invalid length")
        // A bulk just under the limit announced but never sent: no allocation of its size.
        let p = RESPParser()
        p.feed(b("$536870912\r\nabc"))
        XCTAssertNil(try p.next())
        XCTAssertEqual(p.bufferedByteCount, 0)
        // A large array announced: fine until its elements arrive.
        let q = RESPParser()
        q.feed(b("*60000000\r\n:1\r\n"))
        XCTAssertNil(try q.next())
        // Nesting bomb.
        let bomb = [UInt8](repeating: 0, count: 0) + Array(repeating: b("*1\r\n"), count: 100_000).flatMap { $0 }
        expectProtocolError(bomb, contains: "nested deeper than 256")
        expectProtocolError(Array(repeating: b("%1\r\n"), count: 300).flatMap { $0 }, contains: "nested deeper")
        // Overlong line, whole or arriving in pieces.
        expectProtocolError([UInt8(ascii: "+")] + [UInt8](repeating: 0x61, count: 600_000), contains: "line longer than")
        let r = RESPParser(limits: RESPParserLimits(maxLineLength: 100))
        var threw = false
        for _ in 0..<20 {
            r.feed([UInt8](repeating: 0x61, count: 10))
            do { _ = try r.next() } catch { threw = true; break }
        }
        XCTAssertTrue(threw)
        // Custom limits.
        expectProtocolError(b("$11\r\nhello world\r\n"), limits: RESPParserLimits(maxBulkLength: 10), contains: "exceeds")
        expectProtocolError(b("*3\r\n"), limits: RESPParserLimits(maxAggregateCount: 2), contains: "exceeds")
        expectProtocolError(b("*1\r\n*1\r\n*1\r\n:1\r\n"), limits: RESPParserLimits(maxDepth: 2), contains: "nested deeper than 2")
        XCTAssertEqual(try parseAll(b("*1\r\n*1\r\n:1\r\n"), limits: RESPParserLimits(maxDepth: 2)), [.array([.array([.integer(1)])])])
    }
}
