import Foundation
import XCTest

/// A small HTTP server for opsh.http's tests (Python's http.server on loopback or a
/// unix socket): echoes requests as JSON, and serves statuses, delays, files and silence
/// (`/hang...`, recorded like `/record...`) on demand.
public final class HTTPTestServer {
    public let process: Process
    public let port: Int
    public let socketPath: String?
    /// What arrived at /record... and /hang...: one JSON line per request, {"path", "body"}.
    public let recordFile: String

    public static let script = #"""
import hashlib, json, os, socketserver, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
counts = {}
lock = threading.Lock()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def address_string(self): return "local"
    def reply(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(body)
    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        path = self.path
        if path.startswith("/hang"):
            # a server that never answers: each try is recorded, no reply ever comes
            with lock, open(sys.argv[3], "a") as f:
                f.write(json.dumps({"path": path, "body": ""}) + "\n")
            time.sleep(3600)
            return
        if path.startswith("/delay/"):
            time.sleep(float(path.split("/")[2]))
        if path.startswith("/status/"):
            return self.reply(int(path.split("/")[2]), b'{"error":"as asked"}')
        if path.startswith("/flaky/"):
            key = path
            with lock:
                counts[key] = counts.get(key, 0) + 1
                c = counts[key]
            if c <= int(path.split("/")[2]):
                return self.reply(503, b'{"error":"try again"}')
            return self.reply(200, json.dumps({"attempts": c}).encode())
        if path.startswith("/record"):
            # a webhook receiver: one JSON line per request body, in the file named by argv[3]
            with lock, open(sys.argv[3], "a") as f:
                f.write(json.dumps({"path": path, "body": body.decode("utf-8", "replace")}) + "\n")
            return self.reply(200, b"ok", "text/plain")
        if path.startswith("/bytes/"):
            size = int(path.split("/")[2])
            data = (hashlib.sha256(b"seed").digest() * (size // 32 + 1))[:size]
            return self.reply(200, data, "application/octet-stream")
        echo = {"method": self.command, "path": path, "body": body.decode("utf-8", "replace"),
                "sha256": hashlib.sha256(body).hexdigest(), "length": len(body),
                "content_type": self.headers.get("Content-Type"), "x_test": self.headers.get("X-Test")}
        self.reply(200, json.dumps(echo).encode())
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any
if sys.argv[1] == "unix":
    class U(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
    srv = U(sys.argv[2], H)
else:
    srv = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H)
    srv.daemon_threads = True
print("ready", flush=True)
srv.serve_forever()
"""#

    public init(unixSocket: Bool = false) throws {
        let dir = Harness.tempDir("http")
        let scriptPath = dir.appendingPathComponent("server.py").path
        try HTTPTestServer.script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        port = RedisServer.freePort()
        socketPath = unixSocket ? dir.appendingPathComponent("http.sock").path : nil
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        recordFile = dir.appendingPathComponent("received.jsonl").path
        process.arguments = ["python3", scriptPath, unixSocket ? "unix" : "tcp", unixSocket ? socketPath! : String(port), recordFile]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let line = String(decoding: out.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertTrue(line.hasPrefix("ready"), "the test HTTP server did not start: \(line)")
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// The request bodies received at /record..., oldest first.
    public var received: [[String: String]] {
        guard let text = try? String(contentsOfFile: recordFile, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String]
        }
    }

    public func stop() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }

    deinit { stop() }
}
