import Foundation
import OpshTestSupport
import XCTest

/// perf/tune on a real redis-server and the Qdrant stand-in, the load ratio given (the
/// machine's own load must not decide the test) and once measured; the worker step is left to
/// the Docker suites (it is services/autoscale's scale_service).
final class PerfTuneTests: XCTestCase {
    func testThePlansByLoadRatioAndWhatIsNotSent() throws {
        let redis = try RedisServer()
        defer { redis.stop() }
        let q = try QdrantStandin()
        defer { q.stop() }
        let env = ["QDRANT_URL": q.url, "REDIS_URL": redis.url, "DOCKER_HOST": "unix:///nonexistent/docker.sock"]
        XCTAssertEqual(Harness.run(["-e", "assert(require('opsh.qdrant').connect():create_collection('docs', { vectors = { size = 4, distance = 'Dot' } }))"], env: env).status, 0)
        func segment() -> String {
            Harness.run(["-e", "print(require('opsh.qdrant').connect():collection('docs').config.optimizer_config.max_segment_size)"], env: env).stdout
        }
        func policy() -> String { sh("redis-cli -p \(redis.port) CONFIG GET maxmemory-policy | tail -1").output }
        let before = segment()
        XCTAssertNotEqual(before, "200000\n")

        // the plan only
        let dry = Harness.run(["--dry-run", "run", "perf/tune", "--load_ratio", "1.5", "--skip", "workers"], env: env)
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would set maxmemory-policy noeviction -> allkeys-lru"), dry.stdout)
        XCTAssertTrue(dry.stdout.contains("would set optimizers_config.max_segment_size = 200000"), dry.stdout)
        XCTAssertEqual(policy(), "noeviction\n")
        XCTAssertEqual(segment(), before)

        // high load: applied
        let high = Harness.run(["--yes", "run", "perf/tune", "--load_ratio", "1.5", "--skip", "workers"], env: env)
        XCTAssertEqual(high.status, 0, high.stdout + high.stderr)
        XCTAssertEqual(policy(), "allkeys-lru\n")
        XCTAssertEqual(segment(), "200000\n")

        // low load: the guide's hnsw_config.ef is not a Qdrant setting: said, not sent
        let low = Harness.run(["--yes", "run", "perf/tune", "--load_ratio", "0.1", "--skip", "workers"], env: env)
        XCTAssertEqual(low.status, 0, low.stdout + low.stderr)
        XCTAssertTrue(low.stdout.contains("not sent: Qdrant has no hnsw_config.ef setting"), low.stdout)
        XCTAssertTrue(low.stdout.contains("params.hnsw_ef = 256"), low.stdout)
        // the worker step, without an engine, says why it could not scale
        let workers = Harness.run(["--yes", "run", "perf/tune", "--load_ratio", "0.1"], env: env)
        XCTAssertEqual(workers.status, 2, workers.stdout)
        XCTAssertTrue(workers.stdout.contains("scaling task-worker to 3 failed"), workers.stdout)

        // in between: nothing
        let mid = Harness.run(["--yes", "run", "perf/tune", "--load_ratio", "0.5"], env: env)
        XCTAssertEqual(mid.status, 0, mid.stdout)
        XCTAssertTrue(mid.stdout.contains("nothing to change"), mid.stdout)

        // measured: the load of this host, per core
        let measured = Harness.run(["--dry-run", "--json", "run", "perf/tune", "--skip", "workers,cache,qdrant"], env: env)
        XCTAssertEqual(measured.status, 0, measured.stdout + measured.stderr)
        XCTAssertTrue(measured.stdout.contains("1-minute load"), measured.stdout)

        let bad = Harness.run(["run", "perf/tune", "--low", "0.9", "--high", "0.8"], env: env)
        XCTAssertEqual(bad.status, 3)
        XCTAssertTrue((bad.stdout + bad.stderr).contains("--low must be below --high"), bad.stdout + bad.stderr)
    }
}
