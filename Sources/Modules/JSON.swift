import JSON
import LuaRuntime

/// `opsh.json`: JSON straight to and from Lua values (docs/ARCHITECTURE.md §3). The parser
/// fills a tape (Sources/JSON); this module walks it and builds the tables.
public enum JSONModule {
    static let arrayMarker = "opsh.json.array"
    static let objectMarker = "opsh.json.object"
    static let bignumType = "opsh.json.bignum"
    static let defaultEncodeDepth = 1000

    final class Buffers {
        var tape = JSONTape()
        var writer = JSONWriter()
        var prettyWriter = JSONWriter(pretty: true)
    }

    static func buffers(_ lua: Lua) -> Buffers {
        if let b = lua.vm.hostObjects["json"] as? Buffers { return b }
        let b = Buffers()
        lua.vm.hostObjects["json"] = b
        return b
    }

    /// The marker and bignum metatables, for every module that decodes JSON into Lua.
    public static func ensureMetatables(_ lua: Lua) {
        for name in [arrayMarker, objectMarker] {
            lua.newMetatable(name)
            lua.pop()
        }
        if lua.newMetatable(bignumType) {
            lua.push(function: bignumToString); lua.rawSet(-2, field: "__tostring")
            lua.push(function: bignumEquals); lua.rawSet(-2, field: "__eq")
        }
        lua.pop()
    }

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        ensureMetatables(lua)
        lua.newModule([("decode", decode), ("encode", encode), ("array", markArray), ("object", markObject),
                       ("bignum", bignum)], extraFields: 1)
        lua.pushNull(); lua.rawSet(-2, field: "null")
        return 1
    }

    // MARK: decode

    /// json.decode(text [, {max_depth = n}]) -> value, or nil, err
    static let decode: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let text = try lua.checkBytes(1)
            var options = JSONParseOptions()
            if lua.type(at: 2) == .table, try lua.optionField(2, "max_depth", .number, arg: 2) {
                options.maxDepth = Int(lua.toInteger(-1) ?? 512)
                lua.pop()
            }
            do throws(JSONError) {
                try pushParsed(lua, text, options: options)
            } catch {
                return lua.failure(code: "json_syntax", message: error.message, fields: [
                    ("offset", .integer(Int64(error.offset))), ("line", .integer(Int64(error.line))),
                    ("column", .integer(Int64(error.column))),
                ])
            }
            return 1
        }
    }

    /// Parses JSON text and pushes it as Lua values (opsh.json.decode's, and every module's that
    /// decodes a response); on bad text throws and pushes nothing.
    public static func pushParsed(_ lua: Lua, _ text: UnsafeRawBufferPointer, options: JSONParseOptions = JSONParseOptions()) throws(JSONError) {
        let b = buffers(lua)
        try b.tape.parse(text, options: options)
        lua.pushNull()
        let nullSlot = lua.top
        _ = push(lua, b.tape, at: b.tape.rootIndex, null: nullSlot)
        lua.remove(nullSlot)
    }

    /// Pushes the value at tape index i; returns the index after it.
    static func push(_ lua: Lua, _ tape: JSONTape, at i: Int, null: Int32) -> Int {
        switch tape.kind(at: i) {
        case .null: lua.pushValue(at: null)
        case .false: lua.push(false)
        case .true: lua.push(true)
        case .int: lua.push(tape.int(at: i))
        case .double: lua.push(tape.double(at: i))
        case .string:
            lua.push(bytes: tape.bytes(at: i))
        case .bigInteger:
            lua.newTable(hashCount: 1)
            lua.push(bytes: tape.bytes(at: i))
            lua.rawSet(-2, field: "digits")
            lua.setMetatable(named: bignumType)
        case .arrayStart:
            let n = tape.count(at: i)
            _ = lua.ensureStack(4)
            lua.newTable(arrayCount: Int32(clamping: n))
            var j = tape.next(after: i)
            var k: Int64 = 1
            while tape.kind(at: j) != .arrayEnd {
                j = push(lua, tape, at: j, null: null)
                lua.rawSet(-2, index: k)
                k += 1
            }
            if n == 0 { lua.setMetatable(named: arrayMarker) }
            return tape.next(after: j)
        case .objectStart:
            let n = tape.count(at: i)
            _ = lua.ensureStack(4)
            lua.newTable(hashCount: Int32(clamping: n))
            var j = tape.next(after: i)
            while tape.kind(at: j) != .objectEnd {
                j = push(lua, tape, at: j, null: null)      // key
                j = push(lua, tape, at: j, null: null)      // value
                lua.rawSet(-3)
            }
            if n == 0 { lua.setMetatable(named: objectMarker) }
            return tape.next(after: j)
        case .arrayEnd, .objectEnd:
            lua.pushNil()
        }
        return tape.next(after: i)
    }

    // MARK: encode

    struct EncodeError: Error { let message: String }

    /// json.encode(value [, {pretty = bool, sort_keys = bool, max_depth = n}]) -> text, or nil, err
    static let encode: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkAny(1)
            var pretty = false, sortKeys = false
            var maxDepth = defaultEncodeDepth
            if lua.type(at: 2) == .table {
                if try lua.optionField(2, "pretty", .boolean, arg: 2) { pretty = lua.toBool(-1); lua.pop() }
                if try lua.optionField(2, "sort_keys", .boolean, arg: 2) { sortKeys = lua.toBool(-1); lua.pop() }
                if try lua.optionField(2, "max_depth", .number, arg: 2) { maxDepth = Int(lua.toInteger(-1) ?? 1000); lua.pop() }
            } else if !lua.isNoneOrNil(2) {
                throw .type(2, "table")
            }
            lua.top = 1
            lua.pushNull()
            let b = buffers(lua)
            var enc = Encoder(lua: lua, null: 2, sortKeys: sortKeys, maxDepth: maxDepth)
            do throws(EncodeError) {
                // no finalizer may change a table under lua_next
                try lua.withCollectorStopped { () throws(EncodeError) in
                    if pretty {
                        b.prettyWriter.reset()
                        try enc.value(1, into: &b.prettyWriter, depth: 0)
                        b.prettyWriter.withBytes { lua.push(bytes: $0) }
                    } else {
                        b.writer.reset()
                        try enc.value(1, into: &b.writer, depth: 0)
                        b.writer.withBytes { lua.push(bytes: $0) }
                    }
                }
            } catch {
                lua.top = 2
                return lua.failure(code: "json_encode", message: error.message)
            }
            return 1
        }
    }

    /// The value at `i` as compact JSON, for a request's `json` field (an error names the
    /// field as argument `arg`). Empty tables need json.object{} or json.array{}.
    static func encodeField(_ lua: Lua, _ i: Int32, arg: Int32) throws(LuaRaise) -> [UInt8] {
        ensureMetatables(lua)
        let i = lua.absIndex(i)
        lua.pushNull()
        defer { lua.pop() }
        var w = JSONWriter()
        var enc = Encoder(lua: lua, null: lua.top, sortKeys: false, maxDepth: defaultEncodeDepth)
        do throws(EncodeError) {
            try lua.withCollectorStopped { () throws(EncodeError) in try enc.value(i, into: &w, depth: 0) }
        } catch {
            throw .argument(arg, "field 'json': \(error.message)")
        }
        return w.bytes
    }

    struct Encoder {
        let lua: Lua
        let null: Int32
        let sortKeys: Bool
        let maxDepth: Int
        var path: [String] = []

        init(lua: Lua, null: Int32, sortKeys: Bool, maxDepth: Int) {
            self.lua = lua; self.null = null; self.sortKeys = sortKeys; self.maxDepth = maxDepth
        }

        func fail(_ m: String) -> EncodeError {
            EncodeError(message: path.isEmpty ? m : "\(m) at \(path.joined())")
        }

        mutating func value(_ i: Int32, into w: inout JSONWriter, depth: Int) throws(EncodeError) {
            switch lua.type(at: i) {
            case .nil, .none: w.null()
            case .boolean: w.bool(lua.toBool(i))
            case .number:
                if lua.isInteger(i) {
                    w.int(lua.toInteger(i)!)
                } else {
                    let d = lua.toNumber(i)!
                    do { try w.double(d) } catch { throw fail("cannot encode \(d) (JSON has no NaN or infinity)") }
                }
            case .string:
                let b = lua.toBytes(i)!
                guard UTF8Validation.isValid(b) else { throw fail("string is not valid UTF-8") }
                w.string(b)
            case .table:
                try table(i, into: &w, depth: depth)
            case .userdata where lua.rawEqual(i, null):
                w.null()
            default:
                throw fail("cannot encode a \(lua.typeName(at: i))")
            }
        }

        mutating func table(_ t: Int32, into w: inout JSONWriter, depth: Int) throws(EncodeError) {
            guard depth < maxDepth else { throw fail("tables nested deeper than \(maxDepth) levels (a cycle?)") }
            guard lua.ensureStack(6) else { throw fail("out of Lua stack") }
            let t = lua.absIndex(t)
            var kind = 0 // 0 unknown, 1 array, 2 object
            if lua.pushMetatable(of: t) {
                lua.pushMetatable(named: arrayMarker)
                if lua.rawEqual(-1, -2) { kind = 1 }
                lua.pop()
                lua.pushMetatable(named: objectMarker)
                if lua.rawEqual(-1, -2) { kind = 2 }
                lua.pop()
                lua.pushMetatable(named: bignumType)
                let isBig = lua.rawEqual(-1, -2)
                lua.pop(2)
                if isBig {
                    _ = lua.rawGet(t, field: "digits")
                    defer { lua.pop() }
                    guard let d = lua.toBytes(-1) else { throw fail("a bignum without digits") }
                    do { try w.rawNumber(d) } catch { throw fail("bignum digits are not a JSON number") }
                    return
                }
            }
            let n = lua.rawLength(t)
            if kind == 0 {
                var count = 0
                lua.pushNil()
                while lua.next(t) {
                    count += 1
                    lua.pop()
                    if count > n { lua.pop(); break }  // the key stays when the traversal stops early
                }
                kind = (count == n && n > 0) ? 1 : 2
            }
            if kind == 1 {
                w.beginArray()
                if n > 0 {
                    for k in 1...n {
                        _ = lua.rawGet(t, index: Int64(k))
                        path.append("[\(k)]")
                        try value(lua.top, into: &w, depth: depth + 1)
                        path.removeLast()
                        lua.pop()
                    }
                }
                w.endArray()
                return
            }
            w.beginObject()
            if sortKeys {
                var keys: [[UInt8]] = []
                lua.pushNil()
                while lua.next(t) {
                    lua.pop()
                    keys.append(try keyBytes(-1))
                }
                keys.sort { $0.lexicographicallyPrecedes($1) }
                for k in keys {
                    k.withUnsafeBytes { b in
                        w.key(b)
                        lua.push(bytes: b)
                    }
                    if lua.rawGet(t) == .nil {   // a numeric key written as a string
                        lua.pop()
                        if let i = Int64(String(decoding: k, as: UTF8.self)) { _ = lua.rawGet(t, index: i) } else { lua.pushNil() }
                    }
                    path.append(".\(String(decoding: k, as: UTF8.self))")
                    try value(lua.top, into: &w, depth: depth + 1)
                    path.removeLast()
                    lua.pop()
                }
            } else {
                lua.pushNil()
                while lua.next(t) {
                    let key = try keyBytes(-2)
                    key.withUnsafeBytes { w.key($0) }
                    path.append(".\(String(decoding: key, as: UTF8.self))")
                    try value(lua.top, into: &w, depth: depth + 1)
                    path.removeLast()
                    lua.pop()
                }
            }
            w.endObject()
        }

        /// Object keys are strings; integer keys are written as their digits.
        func keyBytes(_ i: Int32) throws(EncodeError) -> [UInt8] {
            switch lua.type(at: i) {
            case .string:
                let b = lua.toBytes(i)!
                guard UTF8Validation.isValid(b) else { throw fail("object key is not valid UTF-8") }
                return Array(b)
            case .number where lua.isInteger(i):
                return Array(String(lua.toInteger(i)!).utf8)
            default:
                throw fail("object keys must be strings (got a \(lua.typeName(at: i)) key)")
            }
        }
    }

    // MARK: markers and bignums

    static func mark(_ L: OpaquePointer?, _ name: String) -> Int32 {
        let lua = Lua(L!)
        return lua.call { lua throws(LuaRaise) in
            if lua.isNoneOrNil(1) { lua.top = 0; lua.newTable() } else { try lua.checkTable(1); lua.top = 1 }
            lua.setMetatable(named: name)
            return 1
        }
    }
    static let markArray: LuaFunction = { L in mark(L, arrayMarker) }
    static let markObject: LuaFunction = { L in mark(L, objectMarker) }

    /// json.bignum("18446744073709551615")
    static let bignum: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let d = try lua.checkBytes(1)
            guard !d.isEmpty, d.enumerated().allSatisfy({ ($0.element >= 0x30 && $0.element <= 0x39) || ($0.offset == 0 && $0.element == 0x2D) }),
                  d.count > (d[0] == 0x2D ? 1 : 0) else {
                throw .argument(1, "decimal digits expected")
            }
            lua.newTable(hashCount: 1)
            lua.push(bytes: d)
            lua.rawSet(-2, field: "digits")
            lua.setMetatable(named: bignumType)
            return 1
        }
    }

    static let bignumToString: LuaFunction = { L in
        let lua = Lua(L!)
        if lua.type(at: 1) != .table || lua.rawGet(1, field: "digits") != .string { lua.push("bignum") }
        return 1
    }

    static let bignumEquals: LuaFunction = { L in
        let lua = Lua(L!)
        guard lua.type(at: 1) == .table, lua.type(at: 2) == .table else { lua.push(false); return 1 }
        _ = lua.rawGet(1, field: "digits")
        _ = lua.rawGet(2, field: "digits")
        lua.push(lua.rawEqual(-1, -2))
        return 1
    }
}
