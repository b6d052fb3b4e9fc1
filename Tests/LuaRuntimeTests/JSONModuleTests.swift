import LuaRuntime
import Modules
import XCTest

/// opsh.json through Lua: exact numbers, markers, null, bignums, hostile input.
final class JSONModuleTests: XCTestCase {
    var vm: LuaVM!

    override func setUp() {
        vm = try! LuaVM()
        for (name, opener) in ModuleRegistry.natives { vm.preload(name, opener) }
        try! vm.run("json = require 'opsh.json'; opsh = require 'opsh'")
    }

    override func tearDown() { vm.close() }

    func lua(_ code: String) throws -> [LuaValue] { try vm.run(code, chunkName: "=test") }

    func testScalarsAndExactNumbers() throws {
        XCTAssertEqual(try lua("""
            local v = json.decode('[1, -0, 1.0, 9223372036854775807, -9223372036854775808, 0.1, 1e300, 5e-324, true, false, null, "x"]')
            return math.type(v[1]), math.type(v[2]), math.type(v[3]), v[4] == math.maxinteger, v[5] == math.mininteger,
                   v[6] == 0.1, v[7] == 1e300, v[8] == 5e-324, v[9], v[10], v[11] == opsh.null, v[12], #v
            """), [.string("integer"), .string("integer"), .string("float"), .boolean(true), .boolean(true),
                   .boolean(true), .boolean(true), .boolean(true), .boolean(true), .boolean(false), .boolean(true), .string("x"), .integer(12)])
        // doubles re-encode in the shortest form that reads back the same
        XCTAssertEqual(try lua("return json.encode({0.1, 1/3, 1e300, 5e-324, -0.0, 2.0, 123456789.123456789})"),
                       [.string("[0.1,0.3333333333333333,1e+300,5e-324,-0.0,2.0,123456789.12345679]")])
        XCTAssertEqual(try lua("return json.encode({math.maxinteger, math.mininteger, (1 << 53) + 1})"),
                       [.string("[9223372036854775807,-9223372036854775808,9007199254740993]")])
        // every random double round-trips bit for bit
        XCTAssertEqual(try lua("""
            local bad = 0
            for i = 1, 20000 do
              local x = string.unpack("<d", string.pack("<i8", math.random(math.mininteger, math.maxinteger)))
              if x == x and x ~= math.huge and x ~= -math.huge then
                local y = json.decode(json.encode({x}))[1]
                if string.pack("<d", y) ~= string.pack("<d", x) then bad = bad + 1 end
              end
            end
            return bad
            """), [.integer(0)])
    }

    func testU64IdsAreNeverRounded() throws {
        XCTAssertEqual(try lua("""
            local text = '{"id":18446744073709551615,"ids":[9223372036854775808,-9223372036854775809]}'
            local v = json.decode(text)
            return tostring(v.id), getmetatable(v.id) ~= nil, json.encode(v, { sort_keys = true }),
                   v.id == json.bignum("18446744073709551615")
            """), [.string("18446744073709551615"), .boolean(true),
                   .string(#"{"id":18446744073709551615,"ids":[9223372036854775808,-9223372036854775809]}"#), .boolean(true)])
        XCTAssertThrowsError(try lua("json.bignum('12x')"))
    }

    func testEmptyContainersAndMarkers() throws {
        XCTAssertEqual(try lua("""
            local v = json.decode('{"a":[],"b":{}}')
            return json.encode(v, { sort_keys = true }), json.encode({}), json.encode(json.array {}), json.encode(json.object {}),
                   json.encode(json.array { 1, 2 })
            """), [.string(#"{"a":[],"b":{}}"#), .string("{}"), .string("[]"), .string("{}"), .string("[1,2]")])
    }

    func testObjectsStringsAndPretty() throws {
        XCTAssertEqual(try lua("""
            local v = json.decode('{"k\\\\u00e9y": "caf\\\\u00e9 \\\\ud83d\\\\ude00 \\\\"q\\\\" \\\\n", "n": {"x": [1, {"y": null}]}}')
            return v["kéy"], json.encode(v.n), json.encode({ b = 1, a = { 2, 3 } }, { pretty = true, sort_keys = true })
            """), [.string("café 😀 \"q\" \n"), .string(#"{"x":[1,{"y":null}]}"#),
                   .string("{\n  \"a\": [\n    2,\n    3\n  ],\n  \"b\": 1\n}")])
        XCTAssertEqual(try lua("return json.encode({ [1] = 'a', [3] = 'c' }, { sort_keys = true })"), [.string(#"{"1":"a","3":"c"}"#)])
        XCTAssertEqual(try lua("return json.encode('\\0\\31\\\\')"), [.string(#""\u0000\u001f\\""#)])
    }

    func testMalformedInputGivesOffsets() throws {
        let cases: [(String, Int)] = [("{\"a\":}", 5), ("[1,2", 4), ("[01]", 1), ("nul", 3), ("\"\\x\"", 1), ("[1] x", 4), ("", 0)]
        for (text, offset) in cases {
            vm.main.push(text)
            vm.setGlobal("input")
            let out = try lua("local v, e = json.decode(input); return v, e.code, e.offset, tostring(e):find('at byte') ~= nil")
            XCTAssertEqual(out[0], .nil, text)
            XCTAssertEqual(out[1], .string("json_syntax"), text)
            XCTAssertEqual(out[2], .integer(Int64(offset)), text)
            XCTAssertEqual(out[3], .boolean(true), text)
        }
    }

    func testHostileInputIsBounded() throws {
        XCTAssertEqual(try lua("""
            local deep = string.rep("[", 100000) .. string.rep("]", 100000)
            local v, e = json.decode(deep)
            local bad_utf8 = json.decode('"\\255"')
            return v, e.code, bad_utf8
            """), [.nil, .string("json_syntax"), .nil])
        XCTAssertEqual(try lua("""
            local ok = 0
            math.randomseed(7)
            local base = '{"points":[{"id":1,"vector":[0.1,0.2],"payload":{"s":"x\\\\n","n":null}}]}'
            for i = 1, 3000 do
              local pos = math.random(1, #base)
              local mutated = base:sub(1, pos - 1) .. string.char(math.random(0, 255)) .. base:sub(pos + 1)
              local v = json.decode(mutated)
              if v ~= nil then assert(json.decode(json.encode(v)) ~= nil); ok = ok + 1 end
            end
            return ok >= 0
            """), [.boolean(true)])
    }

    func testEncodeErrors() throws {
        XCTAssertEqual(try lua("""
            local t = {}; t.self = t
            local a, e1 = json.encode(t)
            local b, e2 = json.encode({ f = print })
            local c, e3 = json.encode({ 0/0 })
            local d, e4 = json.encode({ [{}] = 1 })
            local e, e5 = json.encode("\\255")
            return a, e1.code, e1.message:find("nested deeper") ~= nil, e2.message, e3.message:find("NaN") ~= nil,
                   e4.message:find("object keys must be strings") ~= nil, e5.message
            """), [.nil, .string("json_encode"), .boolean(true), .string("cannot encode a function at .f"), .boolean(true),
                   .boolean(true), .string("string is not valid UTF-8")])
    }
}
