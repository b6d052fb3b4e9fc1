/// A bounded, safe reader and writer for the subset of Python's pickle format that ARQ writes
/// (protocols 2 to 5, binary opcodes only).
///
/// Nothing in a pickle is ever executed: there is no class lookup and no call. The opcodes that
/// import or call (GLOBAL, STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT*,
/// PERSID, out-of-band buffers) are refused, with one exception ARQ needs: a failed job's result
/// holds the exception that ended it (`ValueError('boom')` pickles as STACK_GLOBAL builtins
/// ValueError, a tuple of arguments, REDUCE, and BUILD with its `__dict__`). A global on the
/// allow-list (`PickleLimits.allowedGlobals`: the builtin exceptions, ARQ's and asyncio's) is
/// decoded as the marked value `.global`, and REDUCE of such a global with a tuple as the marked
/// value `.object` holding the class name, the arguments and the BUILD state. They are data; no
/// class is looked up and nothing is called. Anything else is refused with an error naming it.

/// A decoded Python value.
public indirect enum PickleValue: Equatable, Sendable {
    case none
    case bool(Bool)
    /// An int that fits in 64 bits.
    case int(Int64)
    /// An int beyond 64 bits: minimal little-endian two's complement bytes, as LONG1 holds them.
    case bigInt([UInt8])
    case float(Double)
    /// A str, as its UTF-8 bytes (pickle writes str with "surrogatepass", so these are kept raw).
    case str([UInt8])
    case bytes([UInt8])
    case bytearray([UInt8])
    case list([PickleValue])
    case tuple([PickleValue])
    /// A dict in insertion order.
    case dict([PickleEntry])
    case set([PickleValue])
    case frozenset([PickleValue])
    /// A reference to an allowed class, never looked up.
    case global(module: String, name: String)
    /// An instance of an allowed class (an exception), never constructed.
    case object(PickleObject)

    public static func str(_ s: String) -> PickleValue { .str(Array(s.utf8)) }

    /// The str's text, when this is a str.
    public var text: String? {
        if case .str(let b) = self { return String(decoding: b, as: UTF8.self) }
        return nil
    }

    /// The value under a str key, when this is a dict.
    public subscript(key: String) -> PickleValue? {
        guard case .dict(let entries) = self else { return nil }
        let k = Array(key.utf8)
        for e in entries { if case .str(let b) = e.key, b == k { return e.value } }
        return nil
    }
}

public struct PickleEntry: Equatable, Sendable {
    public var key: PickleValue
    public var value: PickleValue
    public init(_ key: PickleValue, _ value: PickleValue) { self.key = key; self.value = value }
}

/// An instance built by REDUCE of an allowed global (in ARQ: an exception), as data.
public struct PickleObject: Equatable, Sendable {
    public var module: String
    public var name: String
    public var args: [PickleValue]
    /// The BUILD state (an exception's `__dict__`), if any.
    public var state: PickleValue?
    public init(module: String, name: String, args: [PickleValue], state: PickleValue? = nil) {
        self.module = module; self.name = name; self.args = args; self.state = state
    }
    /// "builtins.ValueError" is shown as "ValueError", others with their module.
    public var qualifiedName: String { module == "builtins" ? name : "\(module).\(name)" }
    /// "ValueError: boom", as Python's traceback shows an exception.
    public var summary: String {
        var parts: [String] = []
        for a in args {
            switch a {
            case .str(let b): parts.append(String(decoding: b, as: UTF8.self))
            case .int(let i): parts.append(String(i))
            case .float(let d): parts.append(String(d))
            case .none: parts.append("None")
            case .bool(let b): parts.append(b ? "True" : "False")
            default: parts.append("…")
            }
        }
        return parts.isEmpty ? qualifiedName : "\(qualifiedName): \(parts.joined(separator: ", "))"
    }
}

/// Bounds on what the decoder accepts.
public struct PickleLimits: Sendable {
    /// Largest input accepted.
    public var maxInputBytes = 64 << 20
    /// Deepest nesting of containers in the result.
    public var maxDepth = 200
    /// Most memo entries.
    public var maxMemo = 1 << 17
    /// Most values in the result (shared references are counted each time they appear).
    public var maxNodes = 1 << 21
    /// Longest int, in bytes (Python ints of more than ~2,400 digits are refused).
    public var maxLongBytes = 1024
    /// Globals decoded as marked values ("module.name"), never looked up.
    public var allowedGlobals: Set<String> = PickleLimits.arqGlobals

    public init() {}

    /// The exception classes a failed ARQ result may hold.
    public static let arqGlobals: Set<String> = {
        var s: Set<String> = [
            "arq.worker.JobExecutionFailed", "arq.worker.Retry", "arq.worker.RetryJob",
            "arq.jobs.SerializationError", "arq.jobs.DeserializationError",
            "asyncio.exceptions.CancelledError", "asyncio.exceptions.TimeoutError",
            "asyncio.exceptions.InvalidStateError",
            "concurrent.futures._base.CancelledError", "concurrent.futures._base.TimeoutError",
        ]
        for n in builtinExceptions { s.insert("builtins." + n) }
        return s
    }()

    public static let builtinExceptions = [
        "BaseException", "Exception", "ArithmeticError", "AssertionError", "AttributeError",
        "BlockingIOError", "BrokenPipeError", "BufferError", "ChildProcessError", "ConnectionAbortedError",
        "ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "EOFError", "FileExistsError",
        "FileNotFoundError", "FloatingPointError", "GeneratorExit", "ImportError", "IndentationError",
        "IndexError", "InterruptedError", "IsADirectoryError", "KeyError", "KeyboardInterrupt", "LookupError",
        "MemoryError", "ModuleNotFoundError", "NameError", "NotADirectoryError", "NotImplementedError",
        "OSError", "OverflowError", "PermissionError", "ProcessLookupError", "RecursionError",
        "ReferenceError", "RuntimeError", "StopAsyncIteration", "StopIteration", "SyntaxError",
        "SystemError", "SystemExit", "TabError", "TimeoutError", "TypeError", "UnboundLocalError",
        "UnicodeError", "ValueError", "ZeroDivisionError",
    ]
}

/// Why a pickle was not decoded. `offset` is the byte offset of the opcode.
public struct PickleError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable {
        /// The input ends early or is not well formed.
        case malformed
        /// An opcode or a global that could execute code, or that ARQ never writes.
        case refused
        /// A size, depth, memo or node limit.
        case limit
        /// The encoder was given something it does not write.
        case unencodable
    }
    public let kind: Kind
    public let message: String
    public let offset: Int
    public init(_ kind: Kind, _ message: String, offset: Int = 0) {
        self.kind = kind; self.message = message; self.offset = offset
    }
    public var description: String { kind == .unencodable ? message : "\(message) (at byte \(offset))" }
}

/// `PickleCodec.decode(bytes)` and `PickleCodec.encode(value)`.
public enum PickleCodec {}
