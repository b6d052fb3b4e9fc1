import OpshCrypto
import EventLoop
import Glibc
import HTTP
import JSON
import LuaRuntime
import Sys

/// `opsh.http`: HTTP on libcurl's multi interface, driven by the event loop, so
/// requests inside tasks run concurrently (docs/ARCHITECTURE.md §2). libcurl is opened on first use.
public enum HTTPModule {
    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.newModule([
            ("request", request), ("get", get), ("head", head), ("post", post), ("put", put),
            ("patch", patch), ("delete", delete), ("urlencode", urlencode), ("query", query),
        ])
        return 1
    }

    static let get: LuaFunction = { L in shorthand(L, "GET") }
    static let head: LuaFunction = { L in shorthand(L, "HEAD") }
    static let post: LuaFunction = { L in shorthand(L, "POST") }
    static let put: LuaFunction = { L in shorthand(L, "PUT") }
    static let patch: LuaFunction = { L in shorthand(L, "PATCH") }
    static let delete: LuaFunction = { L in shorthand(L, "DELETE") }

    /// http.get(url [, opts]) and friends
    static func shorthand(_ L: OpaquePointer?, _ method: String) -> Int32 {
        Lua(L!).call { lua throws(LuaRaise) in
            let url = try lua.checkString(1)
            if !lua.isNoneOrNil(2) { try lua.checkTable(2) }
            return try perform(lua, method: method, url: url, options: lua.isNoneOrNil(2) ? nil : 2)
        }
    }

    /// http.request{method =, url =, ...}
    static let request: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            try lua.checkTable(1)
            guard try lua.optionField(1, "url", .string, arg: 1) else { throw .argument(1, "field 'url' is required") }
            let url = lua.toString(-1)!
            lua.pop()
            var method = "GET"
            if try lua.optionField(1, "method", .string, arg: 1) { method = lua.toString(-1)!.uppercased(); lua.pop() }
            return try perform(lua, method: method, url: url, options: 1, alsoKnown: ["url", "method"])
        }
    }

    /// http.urlencode(value) -> the value percent-encoded as one URL component (numbers as text)
    static let urlencode: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let bytes: [UInt8]
            switch lua.type(at: 1) {
            case .string: bytes = Array(lua.toBytes(1)!)
            case .number: bytes = Array((lua.isInteger(1) ? String(lua.toInteger(1)!) : String(lua.toNumber(1)!)).utf8)
            default: throw .type(1, "string")
            }
            lua.push(URLEncoding.component(bytes))
            return 1
        }
    }

    /// http.query{key = value, ...} -> "a=1&b=x%20y": sorted by key, encoded; booleans as
    /// true/false, nil values left out
    static let query: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let params = try lua.options(1, known: nil)
            var pairs: [(String, [UInt8])] = []
            for (k, v) in params {
                switch v {
                case .string(let b): pairs.append((k, b))
                case .integer(let i): pairs.append((k, Array(String(i).utf8)))
                case .number(let d): pairs.append((k, Array(String(d).utf8)))
                case .boolean(let b): pairs.append((k, Array((b ? "true" : "false").utf8)))
                default: throw .argument(1, "query value '\(k)' must be a string, number or boolean")
                }
            }
            lua.push(URLEncoding.query(pairs))
            return 1
        }
    }

    /// The event loop's libcurl multi handle, made on first use.
    static func multi(_ lua: Lua) throws(EventLoopError) -> CurlMulti {
        if let m = lua.vm.hostObjects["curl"] as? CurlMulti { return m }
        let m = try CurlMulti(loop: lua.vm.loop)
        lua.vm.hostObjects["curl"] = m
        return m
    }

    /// The `nil, err` of a libcurl that cannot be opened (err.code "unavailable", naming what
    /// failed to load).
    static func unavailable(_ lua: Lua, _ error: EventLoopError) -> Int32 {
        lua.failure(code: "unavailable", message: "libcurl is not available: \(error)")
    }

    struct Options {
        var allowAnyStatus = false
        var readOnly = false
        var retries = 2
        var showProgress = false
    }

    /// The keys an options table may hold (stdlib/meta/opsh/http.lua's http.options).
    static let optionKeys = ["headers", "body", "json", "timeout", "connect_timeout", "unix_socket", "insecure", "ca_file",
                             "output", "upload", "sha256", "multipart", "max_bytes", "retries", "allow_status", "read_only", "progress"]

    static func perform(_ lua: Lua, method: String, url: String, options t: Int32?, alsoKnown: [String] = []) throws(LuaRaise) -> Int32 {
        var req = HTTPRequest(method: method, url: url)
        var opts = Options()
        if let t {
            try lua.checkOptionKeys(t, optionKeys + alsoKnown, arg: t)
            if try lua.optionField(t, "headers", .table, arg: t) {
                let h = lua.top
                var pairs: [(String, String)] = []
                var bad = false
                lua.withCollectorStopped {
                    lua.pushNil()
                    while lua.next(h) {
                        if let k = lua.type(at: -2) == .string ? lua.toString(-2) : nil,
                           lua.type(at: -1) == .string || lua.type(at: -1) == .number {
                            pairs.append((k, lua.type(at: -1) == .string ? lua.toString(-1)! : String(describing: lua.toNumber(-1)!)))
                        } else { bad = true }
                        lua.pop()
                    }
                }
                lua.pop()
                if bad { throw .argument(t, "headers must be a table of name = string") }
                req.headers = pairs
            }
            if try lua.optionField(t, "body", .string, arg: t) { req.body = Array(lua.toBytes(-1)!); lua.pop() }
            if lua.rawGet(t, field: "json") != .nil {
                req.body = try JSONModule.encodeField(lua, lua.top, arg: t)
                lua.pop()
                if !req.headers.contains(where: { $0.0.lowercased() == "content-type" }) {
                    req.headers.append(("Content-Type", "application/json"))
                }
            } else {
                lua.pop()
            }
            if try lua.optionField(t, "timeout", .number, arg: t) { req.timeout = lua.toNumber(-1)!; lua.pop() }
            if try lua.optionField(t, "connect_timeout", .number, arg: t) { req.connectTimeout = lua.toNumber(-1)!; lua.pop() }
            if try lua.optionField(t, "unix_socket", .string, arg: t) { req.unixSocket = lua.toString(-1); lua.pop() }
            if try lua.optionField(t, "insecure", .boolean, arg: t) { req.verifyTLS = !lua.toBool(-1); lua.pop() }
            if try lua.optionField(t, "ca_file", .string, arg: t) { req.caFile = lua.toString(-1); lua.pop() }
            if try lua.optionField(t, "output", .string, arg: t) { req.outputFile = lua.toString(-1); lua.pop() }
            if try lua.optionField(t, "upload", .string, arg: t) { req.bodyFile = lua.toString(-1); lua.pop() }
            if try lua.optionField(t, "sha256", .string, arg: t) { req.expectedSHA256 = lua.toString(-1); lua.pop() }
            if try lua.optionField(t, "multipart", .table, arg: t) {
                let m = lua.top
                try lua.checkOptionKeys(m, ["field", "filename"], arg: t)
                guard try lua.optionField(m, "field", .string, arg: t) else { throw .argument(t, "multipart needs field = name") }
                let field = lua.toString(-1)!
                lua.pop()
                var filename = (req.bodyFile ?? "file").split(separator: "/").last.map(String.init) ?? "file"
                if try lua.optionField(m, "filename", .string, arg: t) { filename = lua.toString(-1)!; lua.pop() }
                lua.pop()
                req.multipart = (field, filename)
            }
            if try lua.optionField(t, "max_bytes", .number, arg: t) { req.maxBodyBytes = Int(lua.toInteger(-1) ?? 0); lua.pop() }
            if try lua.optionField(t, "retries", .number, arg: t) { opts.retries = Int(lua.toInteger(-1) ?? 0); lua.pop() }
            if try lua.optionField(t, "allow_status", .boolean, arg: t) { opts.allowAnyStatus = lua.toBool(-1); lua.pop() }
            if try lua.optionField(t, "read_only", .boolean, arg: t) { opts.readOnly = lua.toBool(-1); lua.pop() }
            if try lua.optionField(t, "progress", .boolean, arg: t) { opts.showProgress = lua.toBool(-1); lua.pop() }
        }
        guard req.timeout > 0, req.connectTimeout > 0 else { throw .argument(t ?? 1, "timeouts must be positive") }
        guard req.maxBodyBytes > 0 else { throw .argument(t ?? 1, "max_bytes must be positive") }
        if req.multipart != nil && req.bodyFile == nil { throw .argument(t ?? 1, "multipart needs upload = path") }
        if req.expectedSHA256 != nil && req.outputFile == nil { throw .argument(t ?? 1, "sha256 checks a download: it needs output = path") }
        let changes = !["GET", "HEAD", "OPTIONS"].contains(method) && !opts.readOnly
        if lua.dryRun && changes {
            return lua.would("\(method) \(redactedURL(url))" + (req.body.map { " (\($0.count) bytes)" } ?? ""))
        }
        if lua.dryRun && req.outputFile != nil {
            return lua.would("download \(redactedURL(url)) to \(req.outputFile!)", returning: "download to \(req.outputFile!)")
        }
        if opts.showProgress && Terminal.stderrIsTerminal { req.progress = progressPrinter(url) }
        let multi: CurlMulti
        do throws(EventLoopError) { multi = try self.multi(lua) } catch { return unavailable(lua, error) }
        return attempt(lua, multi, req, opts, HTTPRetryPolicy(retries: opts.retries, timeout: req.timeout), try: 1)
    }

    /// One try, given what is left of the call's timeout; tried again as `retry` says.
    static func attempt(_ lua: Lua, _ multi: CurlMulti, _ call: HTTPRequest, _ opts: Options, _ retry: HTTPRetryPolicy, try n: Int) -> Int32 {
        var req = call
        req.timeout = retry.timeLeft
        let transfer: HTTPTransfer
        do throws(HTTPError) { transfer = try HTTPTransfer(req) } catch { return failure(lua, error) }
        final class Box { var result: Result<HTTPResponse, HTTPError>? }
        let box = Box()
        let wait: NativeWait = .custom(start: { done in
            transfer.start(on: multi) { r in box.result = r; done(.ready([])) }
            return { transfer.cancel() }
        })
        // libcurl enforces req.timeout; this deadline only guards against a lost completion
        return lua.wait(wait, deadline: .after(seconds: req.timeout + 5)) { lua, outcome in
            withExtendedLifetime(transfer) {}
            if req.progress != nil { writeToStderr("\r\u{1B}[K") }   // the progress line goes away
            guard let result = box.result else {
                return lua.failure(code: outcome == .cancelled ? "cancelled" : "timeout",
                                   message: "\(req.method) \(redactedURL(req.url)) did not finish")
            }
            if let backoff = retry.backoff(after: n, result, of: req) {
                return lua.wait(.sleep, deadline: .after(seconds: backoff)) { lua, _ in
                    attempt(lua, multi, call, opts, retry, try: n + 1)
                }
            }
            switch result {
            case .failure(let e): return failure(lua, e)
            case .success(let r): return respond(lua, req, r, opts)
            }
        }
    }

    static func failure(_ lua: Lua, _ e: HTTPError) -> Int32 {
        let code = e.kind.code
        return lua.failure(code: code, message: Redaction.redact(e.message))
    }

    /// The response table; a status outside 2xx is nil, err unless allow_status.
    static func respond(_ lua: Lua, _ req: HTTPRequest, _ r: HTTPResponse, _ opts: Options) -> Int32 {
        if !(200..<300).contains(r.status) && !opts.allowAnyStatus {
            let snippet = String(decoding: r.body.prefix(300), as: UTF8.self)
            return lua.failure(code: "http_status", message: "\(req.method) \(redactedURL(req.url)): HTTP \(r.status)" + (snippet.isEmpty ? "" : ": \(snippet)"),
                               fields: [("status", .integer(Int64(r.status))), ("body", .string(r.body))])
        }
        pushResponse(lua, r)
        return 1
    }

    public static func pushResponse(_ lua: Lua, _ r: HTTPResponse) {
        lua.newTable(hashCount: 8)
        lua.push(r.status); lua.rawSet(-2, field: "status")
        lua.newTable(hashCount: Int32(r.headers.count))
        for (k, v) in r.headers { lua.push(v); lua.rawSet(-2, field: k) }
        lua.rawSet(-2, field: "headers")
        lua.push(bytes: r.body); lua.rawSet(-2, field: "body")
        lua.push(r.bytes); lua.rawSet(-2, field: "bytes")
        lua.push(r.seconds); lua.rawSet(-2, field: "seconds")
        if let sha = r.sha256 { lua.push(Hex.encode(sha)); lua.rawSet(-2, field: "sha256") }
        if let ct = r.header("content-type"), ct.contains("json"), !r.body.isEmpty {
            JSONModule.ensureMetatables(lua)
            let ok = r.body.withUnsafeBytes { b -> Bool in
                do throws(JSONError) {
                    try JSONModule.pushParsed(lua, b)
                    return true
                } catch {
                    lua.push(error.message)
                    return false
                }
            }
            lua.rawSet(-2, field: ok ? "json" : "json_error")
        }
    }

    /// URLs in messages without their passwords.
    static func redactedURL(_ url: String) -> String { Redaction.redact(url) }

    /// A progress line on stderr (only on a terminal), at most a few times a second.
    static func progressPrinter(_ url: String) -> @Sendable (Int64, Int64) -> Void {
        final class State: @unchecked Sendable { var last = 0.0 }
        let state = State()
        return { now, total in
            let t = TimeModule.monotonicSeconds()
            guard t - state.last > 0.2 || (total > 0 && now == total) else { return }
            state.last = t
            func mib(_ v: Int64) -> String { String(format1(Double(v) / 1048576)) }
            let text = total > 0 ? "\r  \(mib(now)) / \(mib(total)) MiB (\(Int(Double(now) * 100 / Double(total)))%)  "
                                 : "\r  \(mib(now)) MiB  "
            writeToStderr(text)
        }
    }

    static func format1(_ d: Double) -> String {
        let tenths = Int((d * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
