import HTTP
import JSON

/// What the client needs to know about the engine's API beyond HTTP.
public enum DockerAPI {
    /// The newest API version this client is written against. Engines that speak an older one
    /// are addressed in theirs (`/_ping` answers with it in `Api-Version`); Debian 12's engine
    /// 20.10 speaks 1.41.
    public static let clientVersion = "1.41"

    /// The lower of two versions "1.41" and "1.43" (numerically, per component).
    public static func negotiate(server: String?) -> String {
        guard let s = server, let sv = parse(s), let cv = parse(clientVersion) else { return clientVersion }
        return (sv.0, sv.1) < (cv.0, cv.1) ? s : clientVersion
    }

    static func parse(_ v: String) -> (Int, Int)? {
        let parts = v.split(separator: ".")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) else { return nil }
        return (a, b)
    }

    /// The engine's `{"message": "..."}` error body, if it is one.
    public static func daemonMessage(_ body: [UInt8]) -> String? {
        // the tape borrows the bytes: read it inside
        let message = body.withUnsafeBytes { b -> String? in
            var tape = JSONTape()
            do throws(JSONError) { try tape.parse(b) } catch { return nil }
            guard tape.kind(at: 0) == .objectStart else { return nil }
            var i = tape.next(after: 0)
            while tape.kind(at: i) == .string {
                let key = tape.string(at: i)
                let v = tape.next(after: i)
                if key == "message", tape.kind(at: v) == .string { return tape.string(at: v) }
                i = tape.skip(v)
            }
            return nil
        }
        if let m = message { return m }
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmed
        return text.isEmpty ? nil : text
    }

    /// A transfer failure as the user should read it: a missing daemon in one line.
    public static func error(from e: HTTPError, endpointText: String?) -> DockerError {
        let at = endpointText.map { " at \($0)" } ?? ""
        switch e.kind {
        case .connect:
            return DockerError(.daemonUnavailable, "the Docker daemon is not running: nothing answers\(at) (start it, or set DOCKER_HOST)")
        case .timeout:
            return DockerError(.timeout, "the Docker daemon\(at) did not answer in time: \(e.message)")
        case .tooLarge:
            return DockerError(.tooLarge, e.message)
        case .unavailable:
            return DockerError(.transfer, e.message)
        default:
            return DockerError(.transfer, "talking to the Docker daemon\(at): \(e.message)")
        }
    }

    /// Splits a complete multiplexed body (exec output) into stdout and stderr.
    public static func demultiplex(_ body: [UInt8]) throws(DockerError) -> (stdout: [UInt8], stderr: [UInt8]) {
        var d = DockerFrameDecoder()
        var out: [UInt8] = [], err: [UInt8] = []
        var failure: DockerError?
        body.withUnsafeBytes { b in
            do throws(DockerError) {
                try d.feed(b) { s, piece in
                    if s == .stderr || s == .system { err.append(contentsOf: piece) } else { out.append(contentsOf: piece) }
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        if d.midFrame { throw DockerError(.stream, "the output stream was \(d.cutDescription)") }
        return (out, err)
    }
}
