import EventLoop
import HTTP
import Pool

/// One request to Qdrant made from a worker thread: opsh's HTTP library (libcurl's multi
/// interface) on an event loop of the calling thread, run until the transfer ends. The agent's
/// Qdrant calls are few (health, collections) and admin-driven, so a loop per call is enough.
enum QdrantCall {
    struct Reply { let status: Int; let body: [UInt8] }

    static func get(_ url: String, apiKey: String?, timeout: Double) -> Result<Reply, HTTPError> {
        var req = HTTPRequest(method: "GET", url: url)
        req.timeout = timeout
        req.connectTimeout = min(timeout, 5)
        req.maxBodyBytes = 8 << 20
        if let apiKey { req.headers.append(("api-key", apiKey)) }
        let loop: EventLoop, multi: CurlMulti, transfer: HTTPTransfer
        do {
            loop = try EventLoop()
            multi = try CurlMulti(loop: loop)
            transfer = try HTTPTransfer(req)
        } catch let e as HTTPError {
            return .failure(e)
        } catch {
            return .failure(HTTPError(.unavailable, "\(error)"))
        }
        var result: Result<HTTPResponse, HTTPError>?
        transfer.start(on: multi) { result = $0 }
        let deadline = Deadline.after(seconds: timeout + 5)
        while result == nil && Deadline.now() < deadline { _ = loop.runOnce(until: deadline) }
        guard let result else {
            transfer.cancel()
            return .failure(HTTPError(.timeout, "no answer from \(url) in \(timeout) s"))
        }
        return result.map { Reply(status: $0.status, body: $0.body) }
    }

    /// What a failed or refused request means to the pool's breaker.
    static func outcome(_ r: Result<Reply, HTTPError>) -> CallOutcome {
        switch r {
        case .success(let reply):
            return reply.status < 400 ? .success : QdrantPooling.outcome(code: "http", status: reply.status, message: "HTTP \(reply.status)")
        case .failure(let e):
            return QdrantPooling.outcome(code: e.kind.code, status: nil, message: e.message)
        }
    }
}
