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

    /// Every way of framing (a whole command on the stack, a short argument on the stack, a long
    /// one piece by piece, a command that outgrows the stack half-way) gives the bytes of the
    /// protocol's plain definition, for seeded random commands.
    func testEveryFramingPathWritesWhatThePlainDefinitionSays() {
        func reference(_ args: [[UInt8]]) -> [UInt8] {
            var out = Array("*\(args.count)\r\n".utf8)
            for a in args { out += Array("$\(a.count)\r\n".utf8) + a + [13, 10] }
            return out
        }
        var rng = SeededRNG(seed: 18)
        let lengths = [0, 1, 9, 10, 11, 63, 64, 65, 99, 100, 240, 1000, 100_000]
        for round in 0..<400 {
            let count = 1 + Int(rng.next() % (round % 10 == 0 ? 40 : 6))
            var args: [RESPArgument] = [], bytes: [[UInt8]] = []
            for _ in 0..<count {
                let n = rng.next() % 3 == 0 ? lengths[Int(rng.next() % UInt64(lengths.count))] : Int(rng.next() % 24)
                let raw = (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                switch rng.next() % 4 {
                case 0: args.append(.bytes(raw)); bytes.append(raw)
                case 1:
                    let text = String(decoding: raw.map { 0x20 + $0 % 0x5F }, as: UTF8.self) + (n % 5 == 0 ? "é" : "")
                    args.append(.string(text)); bytes.append(Array(text.utf8))
                case 2:
                    let v = Int64(bitPattern: rng.next()) >> (rng.next() % 64)
                    args.append(.int(v)); bytes.append(Array(String(v).utf8))
                default:
                    args.append(.bytes([])); bytes.append([])
                }
            }
            var e = RESPEncoder()
            e.append(args)
            XCTAssertEqual(e.buffer, reference(bytes), "round \(round)")
            e.removeAll()
            e.append(commands: [args, [.string("PING")]])
            XCTAssertEqual(e.buffer, reference(bytes) + reference([Array("PING".utf8)]), "round \(round), a pipeline")
            XCTAssertEqual(e.commandCount, 2)
            e.removeAll()
            e.beginCommand(argumentCount: bytes.count)
            for a in bytes { a.withUnsafeBytes { e.appendArgument($0) } }
            XCTAssertEqual(e.buffer, reference(bytes), "round \(round), piece by piece")
        }
        // counts of nine digits and more (past the eight gathered in one integer)
        for count in [99_999_999, 100_000_000, 123_456_789_012, Int.max] {
            var e = RESPEncoder()
            e.beginCommand(argumentCount: count)
            XCTAssertEqual(e.buffer, Array("*\(count)\r\n".utf8))
        }
    }

    func testEncodedCommandParsesBack() throws {
        let args: [[UInt8]] = [b("MSET"), [0, 1, 2], b("\r\n\r\n"), (0..<1000).map { UInt8($0 % 256) }]
        let v = try parseAll(RESPEncoder.encode(args))
        XCTAssertEqual(v, [.array(args.map { .bulkString($0) })])
    }
}
