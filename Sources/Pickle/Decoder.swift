import JSON

/// The unpickler: a stack machine over the binary opcodes, with mutable containers held by
/// reference while decoding (the memo shares them, as Python's does) and turned into values at
/// the end, where cycles are refused and depth and size are bounded.
extension PickleCodec {
    public static func decode(_ data: [UInt8], limits: PickleLimits = PickleLimits()) throws(PickleError) -> PickleValue {
        let r: Result<PickleValue, PickleError> = data.withUnsafeBytes { buf in
            do throws(PickleError) { return .success(try decode(buf, limits: limits)) } catch { return .failure(error) }
        }
        return try r.get()
    }

    public static func decode(_ data: UnsafeRawBufferPointer, limits: PickleLimits = PickleLimits()) throws(PickleError) -> PickleValue {
        guard data.count <= limits.maxInputBytes else {
            throw PickleError(.limit, "pickle of \(data.count) bytes is larger than the limit of \(limits.maxInputBytes)")
        }
        var d = Unpickler(data: data, limits: limits)
        // every container is released on its own: a deep or cyclic chain of boxes must not be
        // freed recursively (a stack overflow) or leak
        defer { for b in d.boxes { b.items = []; b.state = nil } }
        let root = try d.run()
        var c = Converter(limits: limits)
        return try c.value(root, depth: 0)
    }
}

final class Box {
    enum Kind { case list, tuple, dict, set, frozenset, object }
    let kind: Kind
    var items: [Item] = []
    // for .object
    var module = "", name = ""
    var state: Item?
    init(_ kind: Kind) { self.kind = kind }
}

enum Item {
    case mark
    case value(PickleValue)
    case box(Box)
}

struct Unpickler {
    let data: UnsafeRawBufferPointer
    let limits: PickleLimits
    var pos = 0
    var op = 0
    var stack: [Item] = []
    var marks: [Int] = []
    var memo: [UInt32: Item] = [:]
    var nextMemo: UInt32 = 0

    init(data: UnsafeRawBufferPointer, limits: PickleLimits) {
        self.data = data; self.limits = limits
    }

    func err(_ kind: PickleError.Kind, _ m: String) -> PickleError { PickleError(kind, m, offset: op) }

    mutating func byte() throws(PickleError) -> UInt8 {
        guard pos < data.count else { throw err(.malformed, "pickle ends early") }
        defer { pos += 1 }
        return data[pos]
    }

    mutating func take(_ n: Int) throws(PickleError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= data.count - pos else { throw err(.malformed, "pickle ends early (needs \(n) more bytes)") }
        defer { pos += n }
        return UnsafeRawBufferPointer(rebasing: data[pos..<(pos + n)])
    }

    mutating func uint(_ n: Int) throws(PickleError) -> UInt64 {
        let b = try take(n)
        var v: UInt64 = 0
        for i in stride(from: n - 1, through: 0, by: -1) { v = v << 8 | UInt64(b[i]) }
        return v
    }

    mutating func length(_ n: Int) throws(PickleError) -> Int {
        let v = try uint(n)
        guard v <= UInt64(data.count - pos) else { throw err(.malformed, "length \(v) runs past the end of the pickle") }
        return Int(v)
    }

    /// The first stack index above the innermost MARK.
    var floor: Int { marks.last.map { $0 + 1 } ?? 0 }

    mutating func pop() throws(PickleError) -> Item {
        guard let top = stack.last, stack.count > floor else { throw err(.malformed, "stack underflow") }
        if case .mark = top { throw err(.malformed, "stack underflow") }
        stack.removeLast()
        return top
    }

    mutating func popMark() throws(PickleError) -> [Item] {
        guard let m = marks.popLast() else { throw err(.malformed, "no MARK on the stack") }
        let items = Array(stack[(m + 1)...])
        stack.removeSubrange(m...)
        return items
    }

    var boxes: [Box] = []

    mutating func push(_ i: Item) throws(PickleError) {
        guard stack.count < limits.maxNodes else { throw err(.limit, "more than \(limits.maxNodes) values on the stack") }
        stack.append(i)
    }

    mutating func box(_ kind: Box.Kind) -> Box {
        let b = Box(kind)
        boxes.append(b)
        return b
    }

    func topBox(_ kinds: [Box.Kind], _ opname: String) throws(PickleError) -> Box {
        guard stack.count > floor, case .box(let b) = stack[stack.count - 1], kinds.contains(b.kind) else {
            throw err(.malformed, "\(opname) on a value of the wrong type")
        }
        return b
    }

    mutating func memoPut(_ idx: UInt32) throws(PickleError) {
        guard let top = stack.last else { throw err(.malformed, "memo store of an empty stack") }
        if case .mark = top { throw err(.malformed, "memo store of a MARK") }
        if memo[idx] == nil, memo.count >= limits.maxMemo {
            throw err(.limit, "more than \(limits.maxMemo) memo entries")
        }
        memo[idx] = top
    }

    mutating func memoGet(_ idx: UInt32) throws(PickleError) {
        guard let v = memo[idx] else { throw err(.malformed, "memo entry \(idx) is not defined") }
        try push(v)
    }

    mutating func str(_ n: Int) throws(PickleError) -> [UInt8] {
        let b = Array(try take(n))
        // pickle writes str with "surrogatepass": encoded surrogates are accepted as Python reads them
        guard UTF8Validation.isValid(b, allowingSurrogates: true) else { throw err(.malformed, "str is not valid UTF-8") }
        return b
    }

    mutating func long(_ n: Int) throws(PickleError) -> PickleValue {
        guard n <= limits.maxLongBytes else { throw err(.limit, "int of \(n) bytes is longer than the limit of \(limits.maxLongBytes)") }
        return PickleInt.value(fromLittleEndian: Array(try take(n)))
    }

    func text(_ item: Item, _ what: String) throws(PickleError) -> String {
        guard case .value(.str(let b)) = item else { throw err(.malformed, "\(what) is not a str") }
        return String(decoding: b, as: UTF8.self)
    }

    func global(_ module: String, _ name: String) throws(PickleError) -> Item {
        let full = "\(module).\(name)"
        guard limits.allowedGlobals.contains(full) else {
            throw err(.refused, "refused global '\(full)': a pickle may not import or call anything (only ARQ's exception classes are read, as data)")
        }
        return .value(.global(module: module, name: name))
    }

    mutating func run() throws(PickleError) -> Item {
        while true {
            op = pos
            let code = try byte()
            switch code {
            case 0x80: // PROTO
                let v = try byte()
                guard (2...5).contains(v) else { throw err(.refused, "pickle protocol \(v) is not supported (2 to 5 are)") }
            case 0x95: // FRAME
                _ = try length(8)
            case 0x2E: // STOP
                let v = try pop()
                guard stack.isEmpty, marks.isEmpty else { throw err(.malformed, "STOP with values left on the stack") }
                return v
            case 0x28: // MARK
                marks.append(stack.count)
                try push(.mark)
            case 0x31: // POP_MARK
                _ = try popMark()
            case 0x30: // POP
                _ = try pop()
            case 0x32: // DUP
                let v = try pop()
                try push(v); try push(v)
            case 0x4E: try push(.value(.none))
            case 0x88: try push(.value(.bool(true)))
            case 0x89: try push(.value(.bool(false)))
            case 0x4B: try push(.value(.int(Int64(try uint(1)))))
            case 0x4D: try push(.value(.int(Int64(try uint(2)))))
            case 0x4A: try push(.value(.int(Int64(Int32(truncatingIfNeeded: UInt32(try uint(4)))))))
            case 0x8A: let n = Int(try uint(1)); try push(.value(try long(n)))
            case 0x8B:
                let n = try uint(4)
                guard n <= UInt64(Int32.max) else { throw err(.malformed, "negative LONG4 length") }
                try push(.value(try long(Int(n))))
            case 0x47: // BINFLOAT, big-endian
                let b = try take(8)
                var bits: UInt64 = 0
                for x in b { bits = bits << 8 | UInt64(x) }
                try push(.value(.float(Double(bitPattern: bits))))
            case 0x8C: let n = try length(1); try push(.value(.str(try str(n))))
            case 0x58: let n = try length(4); try push(.value(.str(try str(n))))
            case 0x8D: let n = try length(8); try push(.value(.str(try str(n))))
            case 0x43: let n = try length(1); try push(.value(.bytes(Array(try take(n)))))
            case 0x42: let n = try length(4); try push(.value(.bytes(Array(try take(n)))))
            case 0x8E: let n = try length(8); try push(.value(.bytes(Array(try take(n)))))
            case 0x96: let n = try length(8); try push(.value(.bytearray(Array(try take(n)))))
            case 0x29: try push(.box(box(.tuple)))
            case 0x85, 0x86, 0x87: // TUPLE1..3
                let n = Int(code - 0x84)
                let b = box(.tuple)
                var items: [Item] = []
                for _ in 0..<n { items.append(try pop()) }
                b.items = items.reversed()
                try push(.box(b))
            case 0x74: // TUPLE
                let b = box(.tuple)
                b.items = try popMark()
                try push(.box(b))
            case 0x5D: try push(.box(box(.list)))
            case 0x6C: // LIST
                let b = box(.list)
                b.items = try popMark()
                try push(.box(b))
            case 0x61: // APPEND
                let v = try pop()
                try topBox([.list], "APPEND").items.append(v)
            case 0x65: // APPENDS
                let items = try popMark()
                try topBox([.list], "APPENDS").items.append(contentsOf: items)
            case 0x7D: try push(.box(box(.dict)))
            case 0x64: // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw err(.malformed, "DICT with an odd number of items") }
                let b = box(.dict)
                b.items = items
                try push(.box(b))
            case 0x73: // SETITEM
                let v = try pop(), k = try pop()
                let b = try topBox([.dict], "SETITEM")
                b.items.append(k); b.items.append(v)
            case 0x75: // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw err(.malformed, "SETITEMS with an odd number of items") }
                try topBox([.dict], "SETITEMS").items.append(contentsOf: items)
            case 0x8F: try push(.box(box(.set)))
            case 0x90: // ADDITEMS
                let items = try popMark()
                try topBox([.set], "ADDITEMS").items.append(contentsOf: items)
            case 0x91: // FROZENSET
                let b = box(.frozenset)
                b.items = try popMark()
                try push(.box(b))
            case 0x71: try memoPut(UInt32(try uint(1)))
            case 0x72: try memoPut(UInt32(truncatingIfNeeded: try uint(4)))
            case 0x94:
                try memoPut(nextMemo)
                nextMemo &+= 1
            case 0x68: try memoGet(UInt32(try uint(1)))
            case 0x6A: try memoGet(UInt32(truncatingIfNeeded: try uint(4)))
            case 0x93: // STACK_GLOBAL
                let name = try text(try pop(), "STACK_GLOBAL name")
                let module = try text(try pop(), "STACK_GLOBAL module")
                try push(try global(module, name))
            case 0x63: // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                try push(try global(module, name))
            case 0x52: // REDUCE
                let args = try pop(), callable = try pop()
                guard case .value(.global(let module, let name)) = callable else {
                    throw err(.refused, "refused REDUCE: only an allowed exception class may be applied, and it is recorded, never called")
                }
                guard case .box(let t) = args, t.kind == .tuple else {
                    throw err(.refused, "refused REDUCE of \(module).\(name) with arguments that are not a tuple")
                }
                let b = box(.object)
                b.module = module; b.name = name; b.items = t.items
                try push(.box(b))
            case 0x62: // BUILD
                let state = try pop()
                guard stack.count > floor, case .box(let b) = stack[stack.count - 1], b.kind == .object, b.state == nil else {
                    throw err(.refused, "refused BUILD: only the state of an allowed exception is read")
                }
                b.state = state
            default:
                throw err(.refused, "refused opcode \(Unpickler.opcodeName(code)) (0x\(String(code, radix: 16)))")
            }
        }
    }

    mutating func line() throws(PickleError) -> String {
        var b: [UInt8] = []
        while true {
            let c = try byte()
            if c == 0x0A { break }
            guard b.count < 256 else { throw err(.malformed, "GLOBAL name too long") }
            b.append(c)
        }
        return String(decoding: b, as: UTF8.self)
    }

    static func opcodeName(_ c: UInt8) -> String {
        switch c {
        case 0x81: return "NEWOBJ"
        case 0x92: return "NEWOBJ_EX"
        case 0x69: return "INST"
        case 0x6F: return "OBJ"
        case 0x82, 0x83, 0x84: return "EXT"
        case 0x50: return "PERSID"
        case 0x51: return "BINPERSID"
        case 0x97: return "NEXT_BUFFER"
        case 0x98: return "READONLY_BUFFER"
        case 0x49: return "INT (text, protocol 0)"
        case 0x4C: return "LONG (text, protocol 0)"
        case 0x46: return "FLOAT (text, protocol 0)"
        case 0x53: return "STRING (protocol 0)"
        case 0x54: return "BINSTRING (Python 2)"
        case 0x55: return "SHORT_BINSTRING (Python 2)"
        case 0x56: return "UNICODE (text, protocol 0)"
        case 0x70: return "PUT (text, protocol 0)"
        case 0x67: return "GET (text, protocol 0)"
        default: return "unknown"
        }
    }
}

struct Converter {
    let limits: PickleLimits
    var nodes = 0
    var visiting = Set<ObjectIdentifier>()

    init(limits: PickleLimits) { self.limits = limits }

    mutating func value(_ item: Item, depth: Int) throws(PickleError) -> PickleValue {
        nodes += 1
        guard nodes <= limits.maxNodes else { throw PickleError(.limit, "more than \(limits.maxNodes) values") }
        switch item {
        case .mark: throw PickleError(.malformed, "a MARK where a value belongs")
        case .value(let v): return v
        case .box(let b):
            guard depth < limits.maxDepth else { throw PickleError(.limit, "values nested deeper than \(limits.maxDepth) levels") }
            let id = ObjectIdentifier(b)
            guard !visiting.contains(id) else { throw PickleError(.refused, "a recursive structure (a container that contains itself)") }
            visiting.insert(id)
            defer { visiting.remove(id) }
            var items: [PickleValue] = []
            items.reserveCapacity(b.items.count)
            for i in b.items { items.append(try value(i, depth: depth + 1)) }
            switch b.kind {
            case .list: return .list(items)
            case .tuple: return .tuple(items)
            case .set: return .set(items)
            case .frozenset: return .frozenset(items)
            case .dict:
                var entries: [PickleEntry] = []
                entries.reserveCapacity(items.count / 2)
                var seen: [DictKey: Int] = [:]
                var i = 0
                while i + 1 < items.count {
                    // a later SETITEM of an equal key replaces the earlier one, as in Python
                    let k = DictKey(items[i])
                    if let k, let j = seen[k] {
                        entries[j].value = items[i + 1]
                    } else {
                        if let k { seen[k] = entries.count }
                        entries.append(PickleEntry(items[i], items[i + 1]))
                    }
                    i += 2
                }
                return .dict(entries)
            case .object:
                var state: PickleValue?
                if let s = b.state { state = try value(s, depth: depth + 1) }
                return .object(PickleObject(module: b.module, name: b.name, args: items, state: state))
            }
        }
    }
}


/// The keys whose equality is plain (str, bytes, int, bool, None), for duplicate detection.
enum DictKey: Hashable {
    case str([UInt8]), bytes([UInt8]), int(Int64), big([UInt8]), none
    init?(_ v: PickleValue) {
        switch v {
        case .str(let b): self = .str(b)
        case .bytes(let b): self = .bytes(b)
        case .int(let i): self = .int(i)
        case .bool(let b): self = .int(b ? 1 : 0)   // True == 1 in Python
        case .bigInt(let b): self = .big(b)
        case .none: self = .none
        default: return nil
        }
    }
}
