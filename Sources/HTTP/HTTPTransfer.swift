import CDyn
import OpshCrypto
import EventLoop
import Glibc

/// One HTTP request as opsh sends it.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(String, String)] = []
    public var body: [UInt8]? = nil
    /// Stream the request body from this file instead (uploads of any size, constant memory).
    public var bodyFile: String? = nil
    /// Send `bodyFile` as the one file field of a multipart/form-data body, still streamed
    /// (Qdrant's snapshot upload takes the field `snapshot`).
    public var multipart: (field: String, filename: String)? = nil
    /// Stream the response body into this file (written as `path.partial`, renamed when complete).
    public var outputFile: String? = nil
    /// The hex SHA-256 the downloaded file must have: a different one fails the transfer and
    /// leaves no file behind (compared before the rename, case and whitespace ignored).
    public var expectedSHA256: String? = nil
    public var unixSocket: String? = nil
    public var timeout: Double = 30
    public var connectTimeout: Double = 5
    public var verifyTLS = true
    public var caFile: String? = nil
    /// Responses kept in memory are bounded; larger ones fail with `.tooLarge`.
    public var maxBodyBytes = 256 << 20
    /// Called with (bytes so far, total if known) while a download or upload runs.
    public var progress: (@Sendable (Int64, Int64) -> Void)? = nil

    public init(method: String, url: String) {
        self.method = method
        self.url = url
    }

    /// Methods that may be sent again after a failure without changing anything twice.
    public var isIdempotent: Bool { ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"].contains(method) }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lower-cased, in the order received (the last response's, after redirects).
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Bytes received into `outputFile` (or into `body`).
    public var bytes: Int64
    /// SHA-256 of a response streamed to `outputFile`, computed on the way through.
    public var sha256: [UInt8]?
    public var seconds: Double

    public func header(_ name: String) -> String? {
        let n = name.lowercased()
        return headers.last { $0.0 == n }?.1
    }
}

public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        case unavailable, connect, timeout, tls, tooLarge, file, transfer, badRequest, checksum

        /// The error code scripts and the pools see (err.code in Lua).
        public var code: String {
            switch self {
            case .unavailable: return "unavailable"
            case .connect: return "connect"
            case .timeout: return "timeout"
            case .tls: return "tls"
            case .tooLarge: return "too_large"
            case .file: return "file"
            case .transfer: return "transfer"
            case .badRequest: return "bad_request"
            case .checksum: return "checksum"
            }
        }
    }
    public let kind: Kind
    public let message: String
    public var description: String { message }
    public init(_ kind: Kind, _ message: String) { self.kind = kind; self.message = message }
}

/// A transfer on libcurl's easy interface, run by a `CurlMulti` on the event loop.
/// Create it, `start` it, and the completion runs once from a loop handler.
public final class HTTPTransfer {
    let api: UnsafePointer<opsh_curl_api>
    let easy: OpaquePointer
    public let request: HTTPRequest
    var headerList: UnsafeMutablePointer<curl_slist>?
    var body: [UInt8] = []
    var headers: [(String, String)] = []
    var received: Int64 = 0
    /// How far a download's writeback has been started (sync_file_range), so the fsync that makes
    /// the file durable at the end has little left to wait for.
    var flushedTo: Int64 = 0
    var uploadOffset = 0
    /// Bytes sent around the file of a multipart upload.
    var multipartHead: [UInt8] = []
    var multipartTail: [UInt8] = []
    var uploadPhase = 0
    var uploadFD: Int32 = -1
    var outputFD: Int32 = -1
    var digest: BackgroundSHA256?
    var inlineDigest: SHA256?
    var overflow = false
    var fileError: String?
    var started = 0.0
    var multi: CurlMulti?
    var finished = false
    /// Receives the response body as it arrives, instead of `body` (endless streams: Docker's
    /// logs and events). `.pause` consumes nothing and pauses the transfer: libcurl hands the
    /// same bytes again after `resume()`; `.stop` ends the transfer (as a transfer error).
    public var sink: ((UnsafeRawBufferPointer) -> SinkAnswer)?
    public enum SinkAnswer { case more, pause, stop }
    var paused = false

    public init(_ request: HTTPRequest) throws(HTTPError) {
        guard let api = opsh_curl() else { throw HTTPError(.unavailable, "libcurl is not available: \(String(cString: opsh_dyn_error()))") }
        guard let easy = EasyHandlePool.shared.take(api) else { throw HTTPError(.unavailable, "curl_easy_init failed") }
        self.api = api
        self.easy = easy
        self.request = request
        do { try configure() } catch { cleanup(); throw error }
    }

    deinit { cleanup() }

    private func cleanup() {
        if let m = multi, !finished { m.remove(easy: easy) }
        multi = nil
        if let h = headerList { api.pointee.slist_free_all(h); headerList = nil }
        if uploadFD >= 0 { close(uploadFD); uploadFD = -1 }
        _ = digest?.finish()   // stops the hashing thread of a transfer that did not complete
        digest = nil
        if outputFD >= 0 { close(outputFD); outputFD = -1; unlink(partialPath) }
        if !finished { finished = true }
        EasyHandlePool.shared.give(easy, api)
    }

    func curlText(_ rc: CURLcode) -> String {
        api.pointee.easy_strerror(rc).map { String(cString: $0) } ?? "curl error \(rc.rawValue)"
    }

    var partialPath: String { (request.outputFile ?? "") + ".partial" }

    private func set(_ opt: CURLoption, _ v: Int) throws(HTTPError) {
        let rc = opsh_curl_setopt_long(easy, opt, v)
        if rc != CURLE_OK { throw HTTPError(.badRequest, "curl option \(opt.rawValue): \(curlText(rc))") }
    }

    private func set(_ opt: CURLoption, _ s: String) throws(HTTPError) {
        // libcurl copies string options (since 7.17)
        let rc = s.withCString { opsh_curl_setopt_ptr(easy, opt, $0) }
        if rc != CURLE_OK { throw HTTPError(.badRequest, "curl option \(opt.rawValue): \(curlText(rc))") }
    }

    private func configure() throws(HTTPError) {
        let me = Unmanaged.passUnretained(self).toOpaque()
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_TIMEOUT_MS, Int(request.timeout * 1000))
        try set(CURLOPT_CONNECTTIMEOUT_MS, Int(request.connectTimeout * 1000))
        try set(CURLOPT_SSL_VERIFYPEER, request.verifyTLS ? 1 : 0)
        try set(CURLOPT_SSL_VERIFYHOST, request.verifyTLS ? 2 : 0)
        try set(CURLOPT_ACCEPT_ENCODING, "")
        if let ca = request.caFile { try set(CURLOPT_CAINFO, ca) }
        if let sock = request.unixSocket { try set(CURLOPT_UNIX_SOCKET_PATH, sock) }
        switch request.method {
        case "GET": break
        case "HEAD": try set(CURLOPT_NOBODY, 1)
        default: try set(CURLOPT_CUSTOMREQUEST, request.method)
        }
        for (k, v) in request.headers {
            headerList = api.pointee.slist_append(headerList, "\(k): \(v)")
        }
        if let file = request.bodyFile {
            uploadFD = open(file, O_RDONLY | O_CLOEXEC)
            guard uploadFD >= 0 else { throw HTTPError(.file, "cannot open \(file): \(String(cString: strerror(errno)))") }
            var st = stat()
            fstat(uploadFD, &st)
            try set(CURLOPT_UPLOAD, 1)
            if let part = request.multipart {
                let boundary = "opsh-" + String(UInt64.random(in: 1...UInt64.max), radix: 16) + String(UInt64.random(in: 1...UInt64.max), radix: 16)
                let name = part.filename.replacingQuotes()
                multipartHead = Array(("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.field)\"; filename=\"\(name)\"\r\n"
                    + "Content-Type: application/octet-stream\r\n\r\n").utf8)
                multipartTail = Array("\r\n--\(boundary)--\r\n".utf8)
                headerList = api.pointee.slist_append(headerList, "Content-Type: multipart/form-data; boundary=\(boundary)")
                headerList = api.pointee.slist_append(headerList, "Expect:")
            }
            _ = opsh_curl_setopt_off_t(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(Int(st.st_size) + multipartHead.count + multipartTail.count))
            if request.method != "PUT" { try set(CURLOPT_CUSTOMREQUEST, request.method) }
            _ = opsh_curl_setopt_read_cb(easy, CURLOPT_READFUNCTION, HTTPTransfer.readBody)
            _ = opsh_curl_setopt_ptr(easy, CURLOPT_READDATA, me)
        } else if let b = request.body {
            _ = opsh_curl_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(b.count))
            try set(CURLOPT_POST, 1)
            if request.method != "POST" { try set(CURLOPT_CUSTOMREQUEST, request.method) }
            _ = opsh_curl_setopt_read_cb(easy, CURLOPT_READFUNCTION, HTTPTransfer.readBody)
            _ = opsh_curl_setopt_ptr(easy, CURLOPT_READDATA, me)
            headerList = api.pointee.slist_append(headerList, "Expect:")   // no 100-continue round trip
        }
        if let h = headerList { _ = opsh_curl_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeRawPointer(h)) }
        if let out = request.outputFile {
            outputFD = open(partialPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard outputFD >= 0 else { throw HTTPError(.file, "cannot create \(out).partial: \(String(cString: strerror(errno)))") }
            digest = BackgroundSHA256()
            if digest == nil { inlineDigest = try? SHA256() }
            // fewer, larger callbacks for a stream to disk
            _ = opsh_curl_setopt_long(easy, CURLOPT_BUFFERSIZE, 512 << 10)
        }
        _ = opsh_curl_setopt_write_cb(easy, CURLOPT_WRITEFUNCTION, HTTPTransfer.writeBody)
        _ = opsh_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = opsh_curl_setopt_write_cb(easy, CURLOPT_HEADERFUNCTION, HTTPTransfer.writeHeader)
        _ = opsh_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, me)
        if request.progress != nil {
            try set(CURLOPT_NOPROGRESS, 0)
            _ = opsh_curl_setopt_xferinfo_cb(easy, HTTPTransfer.progressCallback)
            _ = opsh_curl_setopt_ptr(easy, CURLOPT_XFERINFODATA, me)
        }
    }

    // MARK: libcurl callbacks (C function pointers; the transfer comes through the user pointer)

    static let writeBody: opsh_curl_write_cb = { ptr, size, n, user in
        let t = Unmanaged<HTTPTransfer>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        guard let ptr else { return count }
        let bytes = UnsafeRawBufferPointer(start: ptr, count: count)
        if let sink = t.sink {
            switch sink(bytes) {
            case .more: t.received += Int64(count); return count
            case .pause: t.paused = true; return 0x1000_0001   // CURL_WRITEFUNC_PAUSE
            case .stop: return 0
            }
        }
        t.received += Int64(count)
        if t.outputFD >= 0 {
            var off = 0
            while off < count {
                let w = write(t.outputFD, ptr + off, count - off)
                if w < 0 { if errno == EINTR { continue }; t.fileError = String(cString: strerror(errno)); return 0 }
                off += w
            }
            if let d = t.digest { d.update(bytes) } else { t.inlineDigest?.update(bytes) }
            if t.received - t.flushedTo >= 32 << 20 {
                // start writing back what has arrived, without waiting for it
                _ = opsh_start_writeback(t.outputFD, t.flushedTo, t.received - t.flushedTo)
                t.flushedTo = t.received
            }
            return count
        }
        if t.body.count + count > t.request.maxBodyBytes { t.overflow = true; return 0 }
        t.body.append(contentsOf: bytes)
        return count
    }

    static let writeHeader: opsh_curl_write_cb = { ptr, size, n, user in
        let t = Unmanaged<HTTPTransfer>.fromOpaque(user!).takeUnretainedValue()
        let count = size * n
        guard let ptr else { return count }
        // bytes, not String: a response has a dozen header lines and this runs for each one
        let line = UnsafeRawBufferPointer(start: ptr, count: count)
        if count >= 5, line[0] == 0x48, line[1] == 0x54, line[2] == 0x54, line[3] == 0x50, line[4] == 0x2F {
            t.headers.removeAll()   // "HTTP/": a new response (redirect, 100 Continue)
            return count
        }
        guard let colon = line.firstIndex(of: 0x3A) else { return count }
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D || b == 0x0A }
        var start = colon + 1, end = count
        while start < end, isSpace(line[start]) { start += 1 }
        while end > start, isSpace(line[end - 1]) { end -= 1 }
        let name = String(unsafeUninitializedCapacity: colon) { out in
            for i in 0..<colon { let b = line[i]; out[i] = (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }
            return colon
        }
        t.headers.append((name, String(decoding: UnsafeRawBufferPointer(rebasing: line[start..<end]), as: UTF8.self)))
        return count
    }

    static let readBody: opsh_curl_read_cb = { buffer, size, n, user in
        let t = Unmanaged<HTTPTransfer>.fromOpaque(user!).takeUnretainedValue()
        let room = size * n
        guard let buffer else { return 0 }
        if t.uploadFD >= 0 {
            // multipart: head, then the file, then the tail
            if t.uploadPhase == 0 {
                if t.uploadOffset < t.multipartHead.count { return t.copyOut(t.multipartHead, into: buffer, room: room) }
                t.uploadPhase = 1
                t.uploadOffset = 0
            }
            if t.uploadPhase == 1 {
                let r = read(t.uploadFD, buffer, room)
                if r < 0 { return Int(CURL_READFUNC_ABORT) }
                if r > 0 || t.multipartTail.isEmpty { return r }
                t.uploadPhase = 2
            }
            return t.copyOut(t.multipartTail, into: buffer, room: room)
        }
        guard let body = t.request.body else { return 0 }
        let k = min(room, body.count - t.uploadOffset)
        body.withUnsafeBytes { src in
            UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + t.uploadOffset, byteCount: k)
        }
        t.uploadOffset += k
        return k
    }

    func copyOut(_ bytes: [UInt8], into buffer: UnsafeMutablePointer<CChar>, room: Int) -> Int {
        let k = min(room, bytes.count - uploadOffset)
        guard k > 0 else { return 0 }
        bytes.withUnsafeBytes { src in
            UnsafeMutableRawPointer(buffer).copyMemory(from: src.baseAddress! + uploadOffset, byteCount: k)
        }
        uploadOffset += k
        return k
    }

    static let progressCallback: opsh_curl_xferinfo_cb = { user, dlTotal, dlNow, ulTotal, ulNow in
        let t = Unmanaged<HTTPTransfer>.fromOpaque(user!).takeUnretainedValue()
        if ulTotal > 0 { t.request.progress?(Int64(ulNow), Int64(ulTotal)) } else { t.request.progress?(Int64(dlNow), Int64(dlTotal)) }
        return 0
    }

    // MARK: running

    /// Adds the transfer to `multi`; `completion` runs once, from a loop handler.
    public func start(on multi: CurlMulti, completion: @escaping (Result<HTTPResponse, HTTPError>) -> Void) {
        self.multi = multi
        started = monotonic()
        do {
            try multi.add(easy: easy) { [self] code in
                finished = true
                self.multi = nil
                completion(result(code))
            }
        } catch {
            finished = true
            self.multi = nil
            completion(.failure(HTTPError(.unavailable, "\(error)")))
        }
    }

    /// The status of the response being received (0 before its headers); the sink may look.
    public var status: Int {
        var v = 0
        _ = opsh_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &v)
        return v
    }

    /// Continues a transfer that the sink paused (on the loop's thread, outside the sink).
    public func resume() {
        guard paused, !finished else { return }
        paused = false
        _ = api.pointee.easy_pause(easy, 0)   // CURLPAUSE_CONT
    }

    /// Stops a transfer that was started; its completion is not called.
    public func cancel() {
        if let m = multi, !finished { m.remove(easy: easy) }
        finished = true
        multi = nil
    }

    private func result(_ code: Int32) -> Result<HTTPResponse, HTTPError> {
        let seconds = monotonic() - started
        if code != Int32(CURLE_OK.rawValue) {
            let text = curlText(CURLcode(UInt32(code)))
            if overflow { return .failure(HTTPError(.tooLarge, "\(request.method) \(request.url): response larger than \(request.maxBodyBytes) bytes")) }
            if let f = fileError { return .failure(HTTPError(.file, "\(request.method) \(request.url): writing \(request.outputFile ?? ""): \(f)")) }
            let kind: HTTPError.Kind
            switch CURLcode(UInt32(code)) {
            case CURLE_OPERATION_TIMEDOUT: kind = .timeout
            case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .connect
            case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE: kind = .tls
            default: kind = .transfer
            }
            return .failure(HTTPError(kind, "\(request.method) \(request.url): \(text)"))
        }
        var status = 0
        _ = opsh_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
        var sha: [UInt8]?
        if outputFD >= 0, let out = request.outputFile {
            if fsync(outputFD) != 0 || close(outputFD) != 0 {
                outputFD = -1
                return .failure(HTTPError(.file, "cannot complete \(out).partial: \(String(cString: strerror(errno)))"))
            }
            outputFD = -1
            if (200..<300).contains(status) {
                sha = digest?.finish() ?? inlineDigest?.finish()
                digest = nil
                if let want = request.expectedSHA256 {
                    let got = sha.map(Hex.encode) ?? "unknown (libcrypto is not available)"
                    if got != want.lowercased().filter({ !$0.isWhitespace }) {
                        unlink(partialPath)
                        return .failure(HTTPError(.checksum, "\(request.method) \(request.url): checksum mismatch: expected \(want), got \(got); \(out) not written"))
                    }
                }
                if rename(partialPath, out) != 0 {
                    return .failure(HTTPError(.file, "cannot rename onto \(out): \(String(cString: strerror(errno)))"))
                }
            } else {
                // an error body is not the file asked for
                body = (try? readSmallFile(partialPath, limit: 1 << 20)) ?? []
                unlink(partialPath)
            }
        }
        return .success(HTTPResponse(status: status, headers: headers, body: body, bytes: received, sha256: sha, seconds: seconds))
    }

    private func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Idle easy handles, reset and used again: curl_easy_init allocates a handle and its buffers
/// anew each time, a cost sequential requests pay once each (the connections themselves are
/// kept by the multi handle either way).
final class EasyHandlePool: @unchecked Sendable {
    static let shared = EasyHandlePool()
    private var idle: [OpaquePointer] = []
    private var lock = pthread_mutex_t()

    private init() { pthread_mutex_init(&lock, nil) }

    func take(_ api: UnsafePointer<opsh_curl_api>) -> OpaquePointer? {
        pthread_mutex_lock(&lock)
        let h = idle.popLast()
        pthread_mutex_unlock(&lock)
        if let h {
            api.pointee.easy_reset(h)
            return h
        }
        return api.pointee.easy_init()
    }

    /// Takes back a handle no multi handle holds any more.
    func give(_ h: OpaquePointer, _ api: UnsafePointer<opsh_curl_api>) {
        pthread_mutex_lock(&lock)
        let keep = idle.count < 16
        if keep { idle.append(h) }
        pthread_mutex_unlock(&lock)
        if !keep { api.pointee.easy_cleanup(h) }
    }
}

extension String {
    /// A file name fit for a quoted header parameter.
    func replacingQuotes() -> String { String(map { $0 == "\"" || $0 == "\r" || $0 == "\n" ? "_" : $0 }) }
}

func readSmallFile(_ path: String, limit: Int) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var out = [UInt8](repeating: 0, count: limit)
    let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress, limit) }
    return n > 0 ? Array(out[0..<n]) : []
}
