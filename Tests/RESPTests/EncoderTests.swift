import XCTest
@testable import RESP

final class EncoderTests: XCTestCase {
    func testByteExact() {
        XCTAssertEqual(RESPEncoder.encode(["SET", "key", "value"]), b("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n"))
        XCTAssertEqual(RESPEncoder.encode(["PING"]), b("*1\r\n$4\r\nPING\r\n"))
        XCTAssertEqual(RESPEncoder.encode([[UInt8]]([b("SET"), [0, 13, 10], []])),
                       b("*3\r\n$3\r\nSET\r\n$3\r\n") + [0, 13, 10] + b("\r\n$0\r\n\r\n"))
        var e = RESPEncoder()
        e.append([.string("ZADD"), .string("z"), .double(1.5), .string("m"), .double(.infinity), .string("n"),
                  .double(-.infinity), .string("o"), .double(3), .string("p"), .double(0.1)])
        XCTAssertEqual(e.buffer, b("*11\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\n1.5\r\n$1\r\nm\r\n$3\r\ninf\r\n$1\r\nn\r\n$4\r\n-inf\r\n$1\r\no\r\n$1\r\n3\r\n$1\r\np\r\n$3\r\n0.1\r\n"))
        e.removeAll()
        e.append([.string("INCRBY"), .bytes(b("k")), .int(-9223372036854775808), .int(0), .int(1234567890)])
        XCTAssertEqual(e.buffer, b("*5\r\n$6\r\nINCRBY\r\n$1\r\nk\r\n$20\r\n-9223372036854775808\r\n$1\r\n0\r\n$10\r\n1234567890\r\n"))
        // Pipelines append; capacity is kept.
        e.removeAll()
        let cap = e.buffer.capacity
        e.append(["GET", "a"]); e.append(["GET", "b"])
        XCTAssertEqual(e.commandCount, 2)
        XCTAssertEqual(e.buffer, b("*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"))
        XCTAssertGreaterThanOrEqual(e.buffer.capacity, cap)
        // Piecewise.
        e.removeAll()
        e.beginCommand(argumentCount: 2)
        e.appendArgument("ECHO")
        "héllo".utf8.withContiguousStorageIfAvailable { e.appendArgument(UnsafeRawBufferPointer($0)) }
        XCTAssertEqual(e.buffer, b("*2\r\n$4\r\nECHO\r\n$6\r\nhéllo\r\n"))
    }

    func testEncodedCommandParsesBack() throws {
        let args: [[UInt8]] = [b("MSET"), [0, 1, 2], b("\r\n\r\n"), (0..<1000).map { UInt8($0 % 256) }]
        let v = try parseAll(RESPEncoder.encode(args))
        XCTAssertEqual(v, [.array(args.map { .bulkString($0) })])
    }
}
