import Foundation
import XCTest

/// The Qdrant-compatible server (tools/qdrant-standin) on a free loopback port with its own
/// storage and snapshots directories, stopped by its pid.
public final class QdrantStandin {
    public let process: Process
    public let port: Int
    public let storage: URL
    public let snapshots: URL

    /// `extra` are server flags: --api-key K, --metrics-prefix P, --delay-ms N, --truncate-downloads, --strict.
    public init(_ extra: [String] = []) throws {
        guard QdrantStandin.available else { throw XCTSkip("the Qdrant stand-in needs python3 with qdrant-edge-py and jsonschema (scripts/setup installs them)") }
        let dir = Harness.tempDir("qdrant")
        storage = dir.appendingPathComponent("storage")
        snapshots = dir.appendingPathComponent("snapshots")
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Harness.packageRoot.appendingPathComponent("tools/qdrant-standin/server.py").path,
                             "--port", "0", "--storage", storage.path, "--snapshots", snapshots.path] + extra
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // the first line is "listening on http://HOST:PORT", once the socket listens
        var line = Data()
        while !line.contains(10) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let p = text.split(separator: "\n").first?.split(separator: ":").last.flatMap({ Int($0) }) else {
            process.terminate()
            throw NSError(domain: "QdrantStandin", code: 1, userInfo: [NSLocalizedDescriptionKey: "the stand-in did not start: \(text)"])
        }
        port = p
    }

    deinit { stop() }

    public var url: String { "http://127.0.0.1:\(port)" }

    /// Creates `collection` (4-d vectors, Cosine) holding `points` points with ids 1...points, through
    /// opsh as a user would; the run's result, for the caller to assert on.
    @discardableResult
    public func seed(_ collection: String, points: Int) -> Run {
        Harness.run(["-e", """
            local c = require("opsh.qdrant").connect()
            assert(c:create_collection("\(collection)", { vectors = { size = 4, distance = "Cosine" } }))
            local pts = {}
            for i = 1, \(points) do pts[i] = { id = i, vector = { math.sin(i), math.cos(i), 1, 0.5 }, payload = { n = i } } end
            assert(c:upsert("\(collection)", pts))
            """], env: ["QDRANT_URL": url])
    }

    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
    }

    public static let available: Bool = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import qdrant_edge, jsonschema"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }()
}
