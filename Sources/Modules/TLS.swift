import EventLoop
import Glibc
import LuaRuntime
import TLS

/// `opsh.tls`: certificates of files and live endpoints (the guide's `openssl x509 -checkend`
/// and `openssl s_client`), on the TLS library. An endpoint's connect and handshake wait on the
/// VM's event loop, so endpoints probed in tasks are probed concurrently. Everything here reads;
/// nothing changes under --dry-run.
public enum TLSModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([("file", file), ("endpoint", endpoint), ("parse_target", parseTarget)])
        return 1
    }

    static let fileOptions = ["ca_file", "hostname"]
    static let endpointOptions = ["ca_file", "server_name", "timeout"]

    /// tls.file(path [, {ca_file, hostname}]) -> report, or nil, err
    static let file: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let path = try lua.checkString(1)
            let o = try lua.options(2, known: fileOptions)
            let ca = try text(o, "ca_file", arg: 2), host = try text(o, "hostname", arg: 2)
            do throws(TLSError) {
                lua.push(value: report(try CertificateFile.inspect(path, caFile: ca, hostname: host)))
                return 1
            } catch {
                return failure(lua, error)
            }
        }
    }

    /// tls.endpoint("host:port" [, {ca_file, server_name, timeout}]) -> report, or nil, err
    static let endpoint: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let target = try lua.checkString(1)
            guard let (host, port) = TLSProbe.parseTarget(target) else {
                throw .argument(1, "\"host:port\", \"[v6]:port\" or a host name expected, got \"\(target)\"")
            }
            let o = try lua.options(2, known: endpointOptions)
            let ca = try text(o, "ca_file", arg: 2), name = try text(o, "server_name", arg: 2)
            var timeout = 10.0
            if let t = o["timeout"] {
                switch t {
                case .integer(let i): timeout = Double(i)
                case .number(let d): timeout = d
                default: throw .argument(2, "timeout must be a number")
                }
                guard timeout > 0 else { throw .argument(2, "timeout must be positive") }
            }
            let probe: TLSProbe
            do throws(TLSError) { probe = try TLSProbe(host: host, port: port, serverName: name, caFile: ca) } catch { return failure(lua, error) }
            // a task cancelled mid-handshake closes the socket and frees the session
            let closer = lua.addCloseHandler { probe.close() }
            return drive(lua, probe, closer, .after(seconds: timeout), timeout)
        }
    }

    static func drive(_ lua: Lua, _ probe: TLSProbe, _ closer: CloseHandler, _ deadline: Deadline, _ timeout: Double) -> Int32 {
        do throws(TLSError) {
            switch try probe.step() {
            case .done:
                let r = try probe.report()
                closer.release()
                probe.close()
                lua.push(value: report(r))
                return 1
            case let need:
                return lua.wait(.io(probe.fd, need == .readable ? .readable : .writable), deadline: deadline) { lua, outcome in
                    if outcome == .timedOut {
                        closer.release()
                        probe.close()
                        return failure(lua, probe.timedOut(after: timeout))
                    }
                    return drive(lua, probe, closer, deadline, timeout)
                }
            }
        } catch {
            closer.release()
            probe.close()
            return failure(lua, error)
        }
    }

    /// tls.parse_target(s) -> host, port (443 when none), or nil
    static let parseTarget: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            guard let (host, port) = TLSProbe.parseTarget(try lua.checkString(1)) else { lua.pushNil(); return 1 }
            lua.push(host)
            lua.push(port)
            return 2
        }
    }

    static func text(_ o: [String: LuaValue], _ key: String, arg: Int32) throws(LuaRaise) -> String? {
        guard let v = o[key] else { return nil }
        guard let s = v.text else { throw .argument(arg, "\(key) must be a string") }
        return s
    }

    static func failure(_ lua: Lua, _ e: TLSError) -> Int32 {
        lua.failure(code: e.kind.rawValue, message: e.message, fields: [("source", .string(e.subject))])
    }

    static func certificate(_ c: Certificate, now: Int64) -> [LuaValue: LuaValue] {
        var t: [LuaValue: LuaValue] = [
            .string("subject"): .string(c.subject), .string("issuer"): .string(c.issuer),
            .string("dns_names"): .array(c.dnsNames.map { .string($0) }),
            .string("ip_addresses"): .array(c.ipAddresses.map { .string($0) }),
            .string("serial"): .string(c.serial),
            .string("not_before"): .integer(c.notBefore), .string("not_after"): .integer(c.notAfter),
            .string("days_left"): .number(c.daysLeft(now: now)),
            .string("expired"): .boolean(c.expired(now: now)), .string("not_yet_valid"): .boolean(c.notYetValid(now: now)),
            .string("signature_algorithm"): .string(c.signatureAlgorithm),
            .string("key_type"): .string(c.keyType), .string("key_bits"): .integer(Int64(c.keyBits)),
            .string("fingerprint_sha256"): .string(c.fingerprintSHA256),
            .string("self_signed"): .boolean(c.selfSigned), .string("is_ca"): .boolean(c.isCA),
        ]
        if let cn = c.commonName { t[.string("common_name")] = .string(cn) }
        return t
    }

    /// The leaf's fields at the top level, the whole chain under `chain`, and what was checked.
    static func report(_ r: TLSReport) -> LuaValue {
        let now = Int64(time(nil))
        var t = certificate(r.leaf, now: now)
        t[.string("source")] = .string(r.source)
        t[.string("chain")] = .array(r.chain.map { .map(certificate($0, now: now)) })
        t[.string("verified")] = .boolean(r.verification.verified)
        t[.string("verify_code")] = .integer(Int64(r.verification.code))
        t[.string("trust_store")] = .string(r.verification.trustStore)
        if let e = r.verification.error { t[.string("verify_error")] = .string(e) }
        if let h = r.hostname { t[.string("hostname")] = .string(h) }
        if let m = r.hostnameMatches { t[.string("hostname_ok")] = .boolean(m) }
        if let p = r.protocolVersion { t[.string("protocol")] = .string(p) }
        if let c = r.cipher { t[.string("cipher")] = .string(c) }
        return .map(t)
    }
}
