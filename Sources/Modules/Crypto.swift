import OpshCrypto
import LuaRuntime

/// `opsh.crypto`: what operations need of cryptography, on the Crypto library: SHA-256,
/// random bytes from a CSPRNG, hex, and a comparison whose time does not depend on where the
/// inputs differ.
public enum CryptoModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("sha256", sha256), ("sha256_hex", sha256Hex), ("random_bytes", randomBytes), ("random_hex", randomHex),
            ("hex", hex), ("constant_time_equal", constantTimeEqual), ("sha256_file", sha256File),
        ])
        return 1
    }

    static func failure(_ lua: Lua, _ error: CryptoError) -> Int32 {
        lua.failure(code: error.kind == .file ? "file" : "crypto", message: error.message,
                    fields: error.path.map { [("path", .string($0))] } ?? [])
    }

    /// crypto.sha256(data) -> 32 raw bytes
    static let sha256: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let data = try lua.checkBytes(1)
            do throws(CryptoError) { lua.push(bytes: try SHA256.digest(data)) } catch { return failure(lua, error) }
            return 1
        }
    }

    /// crypto.sha256_hex(data) -> 64 hex digits
    static let sha256Hex: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let data = try lua.checkBytes(1)
            do throws(CryptoError) { lua.push(Hex.encode(try SHA256.digest(data))) } catch { return failure(lua, error) }
            return 1
        }
    }

    /// crypto.sha256_file(path) -> 64 hex digits, read in 1 MiB pieces (any size, constant memory)
    static let sha256File: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            do throws(CryptoError) { lua.push(Hex.encode(try SHA256.file(path).digest)) } catch { return failure(lua, error) }
            return 1
        }
    }

    static func count(_ lua: Lua) throws(LuaRaise) -> Int {
        let n = try lua.checkInteger(1)
        guard (0...(1 << 20)).contains(n) else { throw .argument(1, "byte count must be 0..1048576") }
        return Int(n)
    }

    /// crypto.random_bytes(n) -> n bytes from the CSPRNG
    static let randomBytes: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let r = SecureRandom.bytes(try count(lua)) else { return lua.failure(code: "crypto", message: "no random bytes available") }
            lua.push(bytes: r)
            return 1
        }
    }

    /// crypto.random_hex(n) -> 2n hex digits (the guide's `openssl rand -hex 32` is random_hex(32))
    static let randomHex: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let r = SecureRandom.bytes(try count(lua)) else { return lua.failure(code: "crypto", message: "no random bytes available") }
            lua.push(Hex.encode(r))
            return 1
        }
    }

    /// crypto.hex(bytes) -> lower-case hex
    static let hex: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(Hex.encode(Array(try lua.checkBytes(1))))
            return 1
        }
    }

    /// crypto.constant_time_equal(a, b): the time depends only on the lengths.
    static let constantTimeEqual: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let a = try lua.checkBytes(1), b = try lua.checkBytes(2)
            lua.push(ConstantTime.equal(a, b))
            return 1
        }
    }
}
