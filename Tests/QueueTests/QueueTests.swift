import Foundation
import OpshTestSupport
import XCTest

/// The queue/ procedures against a real ARQ worker (PyPI arq) on a real redis-server, both started
/// here on loopback and stopped by pid. ARQ's own client (Job.result, Job.status) checks the outcome.
final class QueueTests: XCTestCase {
    var redis: RedisServer!
    var dir: URL!
    var worker: Process?
    var dsn: String { "redis://127.0.0.1:\(redis.port)/1" }

    static let tasks = """
    import os
    from arq.connections import RedisSettings

    async def flaky(ctx, x):
        flag = os.environ['FLAG_FILE']
        if not os.path.exists(flag):
            open(flag, 'w').write('1')
            raise ValueError('first try fails')
        return {'status': 'success', 'x': x}

    async def delete_collection(ctx, collection_name, grace_period_minutes=60):
        with open(os.environ['DELETED_FILE'], 'a') as f:
            f.write(collection_name + '\\n')
        return {'status': 'success', 'collection': collection_name}

    class WorkerSettings:
        functions = [flaky, delete_collection]
        redis_settings = RedisSettings.from_dsn(os.environ['REDIS_DSN'])
        poll_delay = 0.1
        health_check_interval = 1
        allow_abort_jobs = True
        max_tries = 3
    """

    static let client = """
    import asyncio, json, os, sys
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.jobs import Job

    async def main():
        r = await create_pool(RedisSettings.from_dsn(os.environ['REDIS_DSN']))
        cmd, a = sys.argv[1], sys.argv[2:]
        if cmd == 'enqueue':
            kw = {}
            if len(a) > 3: kw['_defer_by'] = float(a[3])
            j = await r.enqueue_job(a[0], a[2], _job_id=a[1], **kw)
            print('enqueued' if j else 'refused')
        elif cmd == 'result':
            try:
                print('OK', json.dumps(await Job(a[0], r).result(timeout=float(a[1])), sort_keys=True))
            except Exception as e:
                print('ERROR', repr(e))
        elif cmd == 'status':
            print((await Job(a[0], r).status()).value)
        elif cmd == 'zscore':
            print(await r.zscore(a[0], a[1]))
        elif cmd == 'exists':
            print(await r.exists(a[0]))
        elif cmd == 'xadd':
            await r.xadd(a[0], {'event_type': a[1], 'alias': 'docs', 'deployment_id': a[2]})
        await r.aclose()

    asyncio.run(main())
    """

    override func setUpWithError() throws {
        let check = Process()
        check.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        check.arguments = ["python3", "-c", "import arq"]
        check.standardError = FileHandle.nullDevice
        try check.run(); check.waitUntilExit()
        if check.terminationStatus != 0 { throw XCTSkip("PyPI arq is not installed (scripts/setup installs it)") }
        redis = try RedisServer()
        dir = Harness.tempDir("arq")
        try Self.tasks.write(to: dir.appendingPathComponent("tasks.py"), atomically: true, encoding: .utf8)
        try Self.client.write(to: dir.appendingPathComponent("client.py"), atomically: true, encoding: .utf8)
    }

    override func tearDown() {
        if let w = worker, w.isRunning { w.terminate(); w.waitUntilExit() }
        redis?.stop()
    }

    var pyEnv: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["REDIS_DSN"] = dsn
        env["PYTHONPATH"] = dir.path
        env["FLAG_FILE"] = dir.appendingPathComponent("flag").path
        env["DELETED_FILE"] = dir.appendingPathComponent("deleted").path
        return env
    }

    func startWorker() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "from arq import run_worker; import tasks; run_worker(tasks.WorkerSettings)"]
        p.environment = pyEnv
        p.currentDirectoryURL = dir
        p.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        let log = dir.appendingPathComponent("worker.log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        p.standardError = try FileHandle(forWritingTo: log)
        try p.run()
        worker = p
        // the worker records its health when it starts
        for _ in 0..<100 {
            if py("exists", "arq:queue:health-check") == "1" { return }
            usleep(100_000)
        }
        XCTFail("the ARQ worker did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
    }

    @discardableResult
    func py(_ args: String...) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", dir.appendingPathComponent("client.py").path] + args
        p.environment = pyEnv
        let out = Pipe()
        p.standardOutput = out
        try! p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func opsh(_ args: [String]) -> Run {
        Harness.run(args, env: ["TASK_QUEUE_REDIS_URL": dsn])
    }

    /// --rate: jobs that arrive and leave while it watches are counted; what was there and stays is not.
    func testRateCountsJobsEnqueuedAndDequeuedWhileItWatches() throws {
        func cli(_ args: [String]) -> Run { Shell.run(["/usr/bin/redis-cli", "-u", dsn] + args) }
        let far = String(Int(Date().timeIntervalSince1970 * 1000) + 3_600_000)
        for id in ["stays", "leaves"] { XCTAssertEqual(cli(["ZADD", "arq:queue", far, id]).status, 0) }
        let p = Process()
        p.executableURL = Harness.binary
        p.arguments = ["--json", "run", "queue/status", "--rate", "10"]
        p.environment = Harness.environment(["TASK_QUEUE_REDIS_URL": dsn])
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        // the first reading is taken before anything changes: wait for its connection
        var waited = 0
        while !cli(["CLIENT", "LIST"]).stdout.contains("cmd=zrange") && waited < 400 && p.isRunning { usleep(20_000); waited += 1 }
        XCTAssertTrue(p.isRunning, "queue/status ended before the jobs were added (waited \(waited) rounds)")
        for id in ["new-1", "new-2", "new-3"] { XCTAssertEqual(cli(["ZADD", "arq:queue", far, id]).status, 0) }
        XCTAssertEqual(cli(["ZREM", "arq:queue", "leaves"]).stdout, "1\n")
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let doc = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let rate = (doc["checks"] as! [[String: Any]]).first { $0["name"] as? String == "queue.rate" }
        let m = try XCTUnwrap(rate?["metrics"] as? [String: Any], String(decoding: data, as: UTF8.self))
        XCTAssertEqual(m["enqueued"] as? Int, 3)
        XCTAssertEqual(m["dequeued"] as? Int, 1)
        XCTAssertGreaterThan((m["enqueue_per_s"] as? Double) ?? 0, 0)
    }

    /// A job fails on its first try; queue/status and queue/failed show it; queue/retry --dry-run
    /// changes nothing; queue/retry re-enqueues it and ARQ's own Job.result() shows success.
    func testFailedJobRetriedUntilARQReportsSuccess() throws {
        try startWorker()
        XCTAssertEqual(py("enqueue", "flaky", "job-flaky", "7"), "enqueued")
        XCTAssertEqual(py("result", "job-flaky", "20"), "ERROR ValueError('first try fails')")
        // ARQ itself refuses the id now: its result exists
        XCTAssertEqual(py("enqueue", "flaky", "job-flaky", "7"), "refused")

        // the worker writes its health record (with its counters) every second: wait for the one after the failure
        var r = opsh(["run", "queue/status", "--health_interval", "1"])
        for _ in 0..<20 where !(r.status == 1 && r.stdout.contains("j_failed=1")) {
            usleep(250_000)
            r = opsh(["run", "queue/status", "--health_interval", "1"])
        }
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("1 failed: 1× ValueError: first try fails"), r.stdout)
        XCTAssertTrue(r.stdout.contains("arq:queue:health-check: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("j_failed=1"), r.stdout)
        // the record's own time gives its age, whatever interval the check assumes (3600 s by default here, 1 s in fact)
        let j = opsh(["--json", "run", "queue/status"])
        let doc = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as! [String: Any]
        let worker = (doc["checks"] as! [[String: Any]]).first { $0["name"] as? String == "queue.worker" }
        let age = try XCTUnwrap((worker?["metrics"] as? [String: Any])?["health_age_s"] as? Double, j.stdout)
        XCTAssertLessThan(age, 60, j.stdout)
        XCTAssertGreaterThanOrEqual(age, -1, j.stdout)

        r = opsh(["run", "queue/failed"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("job-flaky"), r.stdout)
        XCTAssertTrue(r.stdout.contains("flaky(7) try 1: ValueError: first try fails"), r.stdout)

        r = opsh(["--dry-run", "run", "queue/retry", "--id", "job-flaky"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("would re-enqueue job-flaky flaky"), r.stdout)
        XCTAssertEqual(py("exists", "arq:result:job-flaky"), "1")
        XCTAssertEqual(py("exists", "arq:job:job-flaky"), "0")

        r = opsh(["run", "queue/retry", "--id", "job-flaky"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("re-enqueued job-flaky flaky (ValueError: first try fails) on arq:queue"), r.stdout)
        XCTAssertEqual(py("result", "job-flaky", "20"), #"OK {"status": "success", "x": "7"}"#)
        XCTAssertEqual(py("status", "job-flaky"), "complete")
        XCTAssertEqual(py("exists", "opsh:queue:retried:job-flaky"), "1")   // the failed result, kept

        // a job that succeeded is not re-run unless asked
        r = opsh(["run", "queue/retry", "--id", "job-flaky"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("succeeded; not retried"), r.stdout)
        r = opsh(["run", "queue/failed"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
    }

    /// A deferred delete_collection job is cancelled through the abort set and removed from the
    /// queue; the worker never runs it.
    func testDeferredDeleteCollectionCancelled() throws {
        try startWorker()
        XCTAssertEqual(py("enqueue", "delete_collection", "del-1", "docs_v1", "3"), "enqueued")
        XCTAssertEqual(py("enqueue", "flaky", "other-1", "1", "30"), "enqueued")

        var r = opsh(["run", "queue/status"])
        XCTAssertTrue(r.stdout.contains("2 job(s), 0 due, 2 deferred"), r.stdout)
        XCTAssertTrue(r.stdout.contains("del-1 delete_collection(docs_v1) due "), r.stdout)

        r = opsh(["--dry-run", "run", "queue/cancel", "--collection", "docs_v1"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("would add del-1 delete_collection(docs_v1) to arq:abort and remove it from arq:queue"), r.stdout)
        XCTAssertNotEqual(py("zscore", "arq:queue", "del-1"), "None")

        // not a delete_collection job: refused
        r = opsh(["run", "queue/cancel", "--id", "other-1"])
        XCTAssertEqual(r.status, 2, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("not delete_collection"), r.stdout)

        r = opsh(["run", "queue/cancel", "--collection", "docs_v1"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("cancelled del-1 delete_collection(docs_v1): removed from arq:queue"), r.stdout)
        XCTAssertEqual(py("zscore", "arq:queue", "del-1"), "None")
        XCTAssertNotEqual(py("zscore", "arq:abort", "del-1"), "None")
        XCTAssertEqual(py("exists", "arq:job:del-1"), "0")
        XCTAssertEqual(py("status", "del-1"), "not_found")
        sleep(4)   // past its due time: the worker never ran it
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("deleted").path))
        XCTAssertNotEqual(py("zscore", "arq:queue", "other-1"), "None")
    }

    /// A job written by opsh.arq.encode_job is run by the real worker.
    func testJobEncodedByOpshRunsOnARQ() throws {
        try startWorker()
        let script = Harness.write("""
        local redis = require "opsh.redis"
        local arq = require "opsh.arq"
        local time = require "opsh.time"
        local r = assert(redis.connect(os.getenv("TASK_QUEUE_REDIS_URL")))
        local now = math.floor(time.now() * 1000)
        local payload = assert(arq.encode_job { ["function"] = "delete_collection", args = { "docs_v9" },
          kwargs = { grace_period_minutes = 0 }, enqueue_time_ms = now })
        local job = assert(arq.decode_job(payload))
        assert(job["function"] == "delete_collection" and job.args[1] == "docs_v9")
        assert(r:transaction(function(p)
          p:call("SET", arq.keys.job .. "opsh-1", payload, "PX", "86400000")
          p:call("ZADD", "arq:queue", tostring(now), "opsh-1")
        end))
        print("queued")
        """, to: "enqueue.lua")
        let r = opsh([script])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(py("result", "opsh-1", "20"), #"OK {"collection": "docs_v9", "status": "success"}"#)
    }

    func testDeploymentEvents() throws {
        var r = opsh(["run", "queue/events"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("does not exist"), r.stdout)
        py("xadd", "deployment:events", "deployment_started", "dep-1")
        py("xadd", "deployment:events", "deployment_failed", "dep-1")
        r = opsh(["run", "queue/events", "--count", "5"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("deployment:events: 2 entries"), r.stdout)
        XCTAssertTrue(r.stdout.contains("event_type=deployment_failed"), r.stdout)
        r = opsh(["run", "queue/events", "--since", "0-0", "--count", "1"])
        XCTAssertTrue(r.stdout.contains("deployment_started") && !r.stdout.contains("event_type=deployment_failed"), r.stdout)
    }

    /// queue/workers finds the running ARQ worker in /proc with its memory, and goes CRITICAL without one.
    func testWorkerProcesses() throws {
        try startWorker()
        let pid = worker!.processIdentifier
        var r = opsh(["--json", "run", "queue/workers"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("queue.worker.\(pid).rss_mb"), r.stdout)
        let doc = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let checks = try XCTUnwrap(doc["checks"] as? [[String: Any]])
        let mine = try XCTUnwrap(checks.first { ($0["name"] as? String) == "queue.worker.\(pid).rss_mb" })
        let rss = try XCTUnwrap((mine["metrics"] as? [String: Any])?["rss_mb"] as? Double)
        XCTAssertGreaterThan(rss, 1, "a Python worker holds more than 1 MB")
        r = opsh(["run", "queue/workers", "--pattern", "no%-such%-worker%-anywhere"])
        XCTAssertEqual(r.status, 2, r.stdout)
        XCTAssertTrue(r.stdout.contains("0 worker processes"), r.stdout)
    }
}
