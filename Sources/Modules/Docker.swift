import Docker
import EventLoop
import Glibc
import HTTP
import JSON
import LuaRuntime

/// `opsh._docker`: the Docker Engine API's transport as Lua sees it, for the `opsh.docker`
/// stdlib module (which builds the API on it). A client is an endpoint; `request` is one HTTP
/// exchange on libcurl's multi interface (concurrent inside tasks), `stream` a response read as
/// demultiplexed, filtered lines. Under `--dry-run` every method but GET/HEAD is refused
/// (docs/ARCHITECTURE.md §6) and reported in the dry-run channel.
public enum DockerModule {
    static let clientType = "opsh.docker.client"
    static let streamType = "opsh.docker.stream"

    final class Client: CustomStringConvertible {
        let endpoint: DockerEndpoint
        let timeout: Double
        init(endpoint: DockerEndpoint, timeout: Double) { self.endpoint = endpoint; self.timeout = timeout }
        var description: String { endpoint.description }
    }

    public static let open: LuaFunction = { L in
        let lua = Lua(L!)
        lua.vm.register(LuaClass(name: clientType, methods: [("request", request), ("stream", stream), ("endpoint", endpointText)]))
        lua.vm.register(LuaClass(name: streamType, methods: [("next", streamNext), ("counts", streamCounts)]))
        lua.newModule([("client", client), ("demux", demux), ("file_stream", fileStream), ("env_override", envOverride)], extraFields: 1)
        lua.push(DockerAPI.clientVersion); lua.rawSet(-2, field: "api_version")
        return 1
    }

    /// _docker.client([host [, timeout]]) -> client, or nil, err for a host it cannot use
    static let client: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let host = try lua.optString(1)
            let timeout = try lua.optNumber(2, 30)
            guard timeout > 0 else { throw .argument(2, "timeout must be positive") }
            let ep: DockerEndpoint
            do throws(DockerError) { ep = try DockerEndpoint(host: host) } catch {
                return lua.failure(code: error.kind.rawValue, message: error.message)
            }
            lua.push(object: Client(endpoint: ep, timeout: timeout), type: clientType)
            return 1
        }
    }

    static let endpointText: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            lua.push(try lua.checkObject(1, type: clientType, as: Client.self).endpoint.description)
            return 1
        }
    }

    /// _docker.env_override(env, overrides) -> env: a container's `Config.Env` list (nil for none)
    /// with {NAME = value} applied (ContainerEnvironment.overriding; names in sorted order when
    /// appended), or nil, err for a name or value the engine cannot take.
    static let envOverride: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            var env: [String] = []
            if !lua.isNoneOrNil(1) {
                try lua.checkTable(1)
                let n = lua.rawLength(1)
                if n > 0 {
                    for k in 1...n {
                        guard lua.rawGet(1, index: Int64(k)) == .string else { lua.pop(); throw .argument(1, "a list of \"NAME=value\" strings expected") }
                        env.append(lua.toString(-1)!)
                        lua.pop()
                    }
                }
            }
            try lua.checkTable(2)
            var overrides: [(name: String, value: String)] = []
            var bad = false
            lua.withCollectorStopped {
                lua.pushNil()
                while lua.next(2) {
                    if lua.type(at: -2) == .string, lua.type(at: -1) == .string {
                        overrides.append((lua.toString(-2)!, lua.toString(-1)!))
                    } else { bad = true }
                    lua.pop()
                }
            }
            if bad { throw .argument(2, "a table of NAME = string expected") }
            overrides.sort { $0.name < $1.name }
            do throws(ContainerEnvironment.Invalid) {
                let out = try ContainerEnvironment.overriding(env, with: overrides)
                lua.newTable(arrayCount: Int32(out.count))
                for (i, e) in out.enumerated() { lua.push(e); lua.rawSet(-2, index: Int64(i + 1)) }
                return 1
            } catch {
                return lua.failure(code: "bad_env", message: error.message)
            }
        }
    }

    /// _docker.demux(bytes) -> stdout, stderr (a complete multiplexed body), or nil, err
    static let demux: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let body = Array(try lua.checkBytes(1))
            do throws(DockerError) {
                let (o, e) = try DockerAPI.demultiplex(body)
                lua.push(bytes: o); lua.push(bytes: e)
                return 2
            } catch {
                return lua.failure(code: error.kind.rawValue, message: error.message)
            }
        }
    }

    // MARK: request

    /// c:request(method, path [, opts]) -> response {status, headers, body, json}, or nil, err
    /// opts: json (a table, sent as the body), body (bytes), content_type, timeout, output (stream
    /// the response into this file), upload (stream the body from this file), demux (split the
    /// body into stdout/stderr), allow_status (any status is a response), what (for messages).
    static let request: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try lua.checkObject(1, type: clientType, as: Client.self)
            let method = try lua.checkString(2).uppercased()
            let path = try lua.checkString(3)
            guard path.hasPrefix("/") else { throw .argument(3, "a path starting with / expected") }
            var req = HTTPRequest(method: method, url: c.endpoint.baseURL + path)
            req.unixSocket = c.endpoint.unixSocket
            req.timeout = c.timeout
            req.connectTimeout = 3
            var demuxBody = false, allowAny = false
            var what: String?
            if !lua.isNoneOrNil(4) {
                try lua.checkTable(4)
                if lua.rawGet(4, field: "json") != .nil {
                    req.body = try JSONModule.encodeField(lua, lua.top, arg: 4)
                    req.headers.append(("Content-Type", "application/json"))
                }
                lua.pop()
                if try lua.optionField(4, "body", .string, arg: 4) { req.body = Array(lua.toBytes(-1)!); lua.pop() }
                if try lua.optionField(4, "content_type", .string, arg: 4) { req.headers.append(("Content-Type", lua.toString(-1)!)); lua.pop() }
                if try lua.optionField(4, "timeout", .number, arg: 4) { req.timeout = lua.toNumber(-1)!; lua.pop() }
                if try lua.optionField(4, "output", .string, arg: 4) { req.outputFile = lua.toString(-1); lua.pop() }
                if try lua.optionField(4, "upload", .string, arg: 4) { req.bodyFile = lua.toString(-1); lua.pop() }
                if try lua.optionField(4, "demux", .boolean, arg: 4) { demuxBody = lua.toBool(-1); lua.pop() }
                if try lua.optionField(4, "allow_status", .boolean, arg: 4) { allowAny = lua.toBool(-1); lua.pop() }
                if try lua.optionField(4, "what", .string, arg: 4) { what = lua.toString(-1); lua.pop() }
            }
            guard req.timeout > 0 else { throw .argument(4, "timeout must be positive") }
            // Docker's own bodies stay small, except archives, which go to files
            req.maxBodyBytes = 64 << 20
            let shown = "\(method) \(path)"
            if lua.dryRun && method != "GET" && method != "HEAD" {
                return lua.would("docker \(what ?? shown)", returning: what ?? shown)
            }
            let multi: CurlMulti
            do throws(EventLoopError) { multi = try HTTPModule.multi(lua) } catch { return HTTPModule.unavailable(lua, error) }
            let transfer: HTTPTransfer
            do throws(HTTPError) { transfer = try HTTPTransfer(req) } catch {
                return fail(lua, DockerAPI.error(from: error, endpointText: c.endpoint.description), shown)
            }
            final class Box { var result: Result<HTTPResponse, HTTPError>? }
            let box = Box()
            let wait: NativeWait = .custom(start: { done in
                transfer.start(on: multi) { r in box.result = r; done(.ready([])) }
                return { transfer.cancel() }
            })
            return lua.wait(wait, deadline: .after(seconds: req.timeout + 5)) { lua, outcome in
                withExtendedLifetime(transfer) {}
                guard let result = box.result else {
                    return lua.failure(code: outcome == .cancelled ? "cancelled" : "timeout", message: "docker \(shown) did not finish")
                }
                switch result {
                case .failure(let e):
                    return fail(lua, DockerAPI.error(from: e, endpointText: c.endpoint.description), shown)
                case .success(let r):
                    // 304: already started / already stopped — the state asked for holds
                    if !(200..<300).contains(r.status) && r.status != 304 && !allowAny {
                        let daemon = DockerAPI.daemonMessage(r.body) ?? "HTTP \(r.status)"
                        let code: String
                        switch r.status {
                        case 404: code = "not_found"
                        case 409: code = "conflict"
                        case 400: code = "bad_request"
                        default: code = "http_status"
                        }
                        return lua.failure(code: code, message: "docker \(what ?? shown): \(daemon)",
                                           fields: [("status", .integer(Int64(r.status))), ("daemon_message", .string(Array(daemon.utf8)))])
                    }
                    HTTPModule.pushResponse(lua, r)
                    if demuxBody {
                        do throws(DockerError) {
                            let (o, e) = try DockerAPI.demultiplex(r.body)
                            lua.push(bytes: o); lua.rawSet(-2, field: "stdout")
                            lua.push(bytes: e); lua.rawSet(-2, field: "stderr")
                        } catch {
                            lua.pop()
                            return fail(lua, error, shown)
                        }
                    }
                    return 1
                }
            }
        }
    }

    static func fail(_ lua: Lua, _ e: DockerError, _ shown: String) -> Int32 {
        let message = e.kind == .daemonUnavailable ? e.message : "docker \(shown): \(e.message)"
        return lua.failure(code: e.kind.rawValue, message: message)
    }


    // MARK: streams

    final class LineStream: LuaClosable {
        let s: DockerLineStream?
        let file: JSONFileLogReader?
        let path: String
        let maxLines: Int
        let end: Deadline?
        var kept = 0
        var waiting: ((WaitOutcome) -> Void)?
        init(_ s: DockerLineStream?, file: JSONFileLogReader? = nil, path: String, maxLines: Int, end: Deadline?) {
            self.s = s; self.file = file; self.path = path; self.maxLines = maxLines; self.end = end
        }
        func close() { if let s, !s.finished { s.cancel() } }
        var scannedLines: Int { s?.scannedLines ?? file?.scannedLines ?? 0 }
        var scannedBytes: Int { s?.scannedBytes ?? file?.scannedBytes ?? 0 }
    }

    /// _docker.file_stream(log_path, opts) -> stream, or nil, err when the file cannot be read
    /// here (then read through the API). opts: stdout, stderr, since, until (Unix seconds),
    /// match, ignore_case, max_lines. See JSONFileLogReader for when this applies.
    static let fileStream: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let logPath = try lua.checkString(1)
            var o = JSONFileLogReader.Options()
            var patterns: [String] = []
            var ignoreCase = false
            var maxLines = Int.max
            if !lua.isNoneOrNil(2) {
                try lua.checkTable(2)
                if try lua.optionField(2, "stdout", .boolean, arg: 2) { o.stdout = lua.toBool(-1); lua.pop() }
                if try lua.optionField(2, "stderr", .boolean, arg: 2) { o.stderr = lua.toBool(-1); lua.pop() }
                if try lua.optionField(2, "since", .number, arg: 2) { o.since = lua.toInteger(-1); lua.pop() }
                if try lua.optionField(2, "until", .number, arg: 2) { o.until = lua.toInteger(-1); lua.pop() }
                if try lua.optionField(2, "ignore_case", .boolean, arg: 2) { ignoreCase = lua.toBool(-1); lua.pop() }
                if try lua.optionField(2, "max_lines", .number, arg: 2) { maxLines = Int(lua.toInteger(-1) ?? 0); lua.pop() }
                patterns = try matchPatterns(lua, 2)
            }
            guard maxLines > 0 else { throw .argument(2, "max_lines must be positive") }
            o.matcher = LineMatcher(patterns: patterns, ignoreCase: ignoreCase)
            let files: [String]
            do throws(DockerError) { files = try JSONFileLogReader.files(for: logPath) } catch {
                return lua.failure(code: "unreadable", message: error.message)
            }
            let r = JSONFileLogReader(files: files, options: o)
            lua.push(object: LineStream(nil, file: r, path: logPath, maxLines: maxLines, end: nil), type: streamType)
            return 1
        }
    }

    /// opts.match: a string or a list of strings.
    static func matchPatterns(_ lua: Lua, _ t: Int32) throws(LuaRaise) -> [String] {
        var patterns: [String] = []
        switch lua.rawGet(t, field: "match") {
        case .string: patterns = [lua.toString(-1)!]
        case .table:
            let n = lua.rawLength(-1)
            if n > 0 {
                for k in 1...n {
                    guard lua.rawGet(-1, index: Int64(k)) == .string else { lua.pop(2); throw .argument(t, "field 'match' must be a string or a list of strings") }
                    patterns.append(lua.toString(-1)!)
                    lua.pop()
                }
            }
        case .nil: break
        default: lua.pop(); throw .argument(t, "field 'match' must be a string or a list of strings")
        }
        lua.pop()
        return patterns
    }

    /// c:stream(path, opts) -> stream (s:next() -> line, "stdout"|"stderr", or nil at the end)
    /// opts: tty (raw output, no frames), match (a string or a list: keep lines containing
    /// one), ignore_case, max_lines (kept lines, then the stream ends), duration (seconds, then
    /// the stream ends: for follow and events), max_queued (bytes kept before pausing).
    static let stream: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let c = try lua.checkObject(1, type: clientType, as: Client.self)
            let path = try lua.checkString(2)
            guard path.hasPrefix("/") else { throw .argument(2, "a path starting with / expected") }
            var opts = DockerLineStream.Options()
            var patterns: [String] = []
            var ignoreCase = false
            var maxLines = Int.max
            var duration: Double?
            if !lua.isNoneOrNil(3) {
                try lua.checkTable(3)
                if try lua.optionField(3, "tty", .boolean, arg: 3) { opts.tty = lua.toBool(-1); lua.pop() }
                if try lua.optionField(3, "ignore_case", .boolean, arg: 3) { ignoreCase = lua.toBool(-1); lua.pop() }
                patterns = try matchPatterns(lua, 3)
                if try lua.optionField(3, "max_lines", .number, arg: 3) { maxLines = Int(lua.toInteger(-1) ?? 0); lua.pop() }
                if try lua.optionField(3, "duration", .number, arg: 3) { duration = lua.toNumber(-1); lua.pop() }
                if try lua.optionField(3, "max_queued", .number, arg: 3) { opts.maxQueued = Int(lua.toInteger(-1) ?? 0); lua.pop() }
            }
            guard maxLines > 0 else { throw .argument(3, "max_lines must be positive") }
            guard opts.maxQueued > 0 else { throw .argument(3, "max_queued must be positive") }
            if let d = duration, d <= 0 { throw .argument(3, "duration must be positive") }
            opts.matcher = LineMatcher(patterns: patterns, ignoreCase: ignoreCase)
            var req = HTTPRequest(method: "GET", url: c.endpoint.baseURL + path)
            req.unixSocket = c.endpoint.unixSocket
            req.connectTimeout = 3
            // a stream has no overall time limit of its own: `duration` bounds it, and a stream
            // without one ends when the engine ends it (logs without follow)
            req.timeout = duration.map { $0 + 3600 } ?? 24 * 3600
            let multi: CurlMulti
            do throws(EventLoopError) { multi = try HTTPModule.multi(lua) } catch { return HTTPModule.unavailable(lua, error) }
            let s: DockerLineStream
            do throws(DockerError) { s = try DockerLineStream(request: req, options: opts) } catch {
                return fail(lua, error, "GET \(path)")
            }
            let ls = LineStream(s, path: path, maxLines: maxLines, end: duration.map { .after(seconds: $0) })
            s.onReady = { [weak ls] in
                guard let ls, let w = ls.waiting else { return }
                ls.waiting = nil
                w(.ready([]))
            }
            s.start(on: multi)
            lua.push(object: ls, type: streamType)
            return 1
        }
    }

    static let streamNext: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let ls = try lua.checkObject(1, type: streamType, as: LineStream.self)
            return next(lua, ls)
        }
    }

    static func next(_ lua: Lua, _ ls: LineStream) -> Int32 {
        guard let s = ls.s else { return nextFromFile(lua, ls, ls.file!) }
        if ls.kept >= ls.maxLines {
            if !s.finished { s.cancel() }
            lua.pushNil()
            return 1
        }
        if let (stream, line) = s.next() {
            ls.kept += 1
            lua.push(bytes: line)
            lua.push(stream == .stderr ? "stderr" : stream == .system ? "system" : "stdout")
            return 2
        }
        if s.finished {
            if let e = s.error {
                // a for-in loop has no other channel: the failure is raised as the error object
                let status = s.refusedStatus
                let code = status == 404 ? "not_found" : status != nil ? "http_status" : e.kind.rawValue
                lua.pushError(code: code, message: "docker GET \(ls.path): \(e.message)",
                              fields: status.map { [("status", .integer(Int64($0)))] } ?? [])
                return LuaStatus.error
            }
            lua.pushNil()
            return 1
        }
        if let end = ls.end, end.secondsFromNow <= 0 {
            s.cancel()
            lua.pushNil()
            return 1
        }
        let wait: NativeWait = .custom(start: { done in
            ls.waiting = done
            return { ls.waiting = nil }
        })
        return lua.wait(wait, deadline: ls.end) { lua, _ in next(lua, ls) }
    }

    static func push(_ lua: Lua, _ stream: DockerFrameDecoder.Stream, _ line: [UInt8]) -> Int32 {
        lua.push(bytes: line)
        lua.push(stream == .stderr ? "stderr" : stream == .system ? "system" : "stdout")
        return 2
    }

    /// The next line of a json-file log read here: a slice of the file at a time, letting other
    /// tasks run between slices (a zero-length sleep) so concurrent scans interleave.
    static func nextFromFile(_ lua: Lua, _ ls: LineStream, _ f: JSONFileLogReader) -> Int32 {
        if ls.kept >= ls.maxLines { lua.pushNil(); return 1 }
        if let (stream, line) = f.next() { ls.kept += 1; return push(lua, stream, line) }
        if !f.finished { f.fill() }
        if let (stream, line) = f.next() { ls.kept += 1; return push(lua, stream, line) }
        if f.finished {
            if let e = f.error {
                lua.pushError(code: e.kind.rawValue, message: "docker logs from \(ls.path): \(e.message)")
                return LuaStatus.error
            }
            lua.pushNil()
            return 1
        }
        return lua.wait(.sleep, deadline: .after(seconds: 0)) { lua, _ in nextFromFile(lua, ls, f) }
    }

    /// s:counts() -> {lines = scanned, bytes = scanned, kept = returned}
    static let streamCounts: LuaFunction = { L in
        Lua(L!).call { lua throws(LuaRaise) in
            let ls = try lua.checkObject(1, type: streamType, as: LineStream.self)
            lua.newTable(hashCount: 3)
            lua.push(ls.scannedLines); lua.rawSet(-2, field: "lines")
            lua.push(ls.scannedBytes); lua.rawSet(-2, field: "bytes")
            lua.push(ls.file != nil ? "file" : "api"); lua.rawSet(-2, field: "source")
            lua.push(ls.kept); lua.rawSet(-2, field: "kept")
            return 1
        }
    }
}
