import Foundation
import OpshTestSupport
import XCTest

/// opsh.predict through the built binary.
final class PredictModuleTests: XCTestCase {
    func lua(_ code: String, flags: [String] = []) -> Run {
        Harness.run(flags + ["-e", "predict = require 'opsh.predict'\n" + code], timeout: 120)
    }

    func testObservePredictTrainAccuracy() {
        let r = lua("""
            local p = predict.new{ horizons = { 25, 900 } }
            local trained
            for i = 0, 2999 do
              local t = 1700438400 + i * 5
              local rep = p:observe{ t = t, requests = 25 + 15 * math.sin(2 * math.pi * t / 86400) + 3 * math.sin(i / 20), cpu = 0.3 }
              trained = trained or rep
            end
            print(trained.reason, trained.samples)
            local f = p:predict(25)
            print(f.trained, f.steps, f.load > 0 and f.load < 1, f.confidence > 0.5, f.trend ~= "unknown", type(f.recommendation))
            print(f.feature_importance.change_1 ~= nil, p:predict(900).steps)
            local acc = p:accuracy()
            print(#acc, acc[1].horizon, acc[1].source, acc[1].mase < 1, acc[2].count > 0)
            local rep = p:train()
            print(rep.reason, rep.samples, rep.accuracy[1].source)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, """
            enough samples for a first model\t60
            true\t5\ttrue\ttrue\ttrue\tstring
            true\t180
            2\t25.0\tlive\ttrue\ttrue
            on demand\t3000\tholdout

            """)
    }

    func testBadOptionsAndSamplesAreNamed() {
        let r = lua("""
            print(select(2, pcall(predict.new, { horizon = 25 })))
            print(select(2, pcall(predict.new, { interval = -5 })))
            local p = predict.new()
            print(select(2, pcall(p.observe, p, { t = 0, requests = 0/0 })))
            print(select(2, pcall(p.observe, p, { t = 0, rps = 3 })))
            print(select(2, pcall(p.observe, p, { t = 0 })))
            print(select(2, pcall(p.predict, p, 7200)))
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 6, r.stdout)
        guard lines.count == 6 else { return }
        XCTAssertTrue(lines[0].contains("unknown option 'horizon' (options: interval, horizons, history"), lines[0])
        XCTAssertTrue(lines[1].contains("option 'interval' must be a positive number"), lines[1])
        XCTAssertTrue(lines[2].contains("sample field 'requests' is NaN"), lines[2])
        XCTAssertTrue(lines[3].contains("unknown sample field 'rps' (sample fields: t, requests, latency_ms"), lines[3])
        XCTAssertTrue(lines[4].contains("at least one of requests"), lines[4])
        XCTAssertTrue(lines[5].contains("beyond the longest configured"), lines[5])
    }

    func testSaveLoadAndACorruptFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-predict-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("model.bin").path
        let r = lua("""
            local p = predict.new{ horizons = { 25 } }
            for i = 0, 499 do p:observe{ t = 1700438400 + i * 5, requests = 20 + 10 * math.sin(i / 30) } end
            assert(p:save("\(path)"))
            local q = assert(predict.load("\(path)"))
            print(q:predict(25).load == p:predict(25).load)
            local f = io.open("\(path)", "r+b"); f:seek("set", 40); f:write("XXXX"); f:close()
            local none, err = predict.load("\(path)")
            print(none, err.code, err.message:find("checksum mismatch", 1, true) ~= nil)
            print(select(2, predict.load("\(dir.path)/missing")).code)
            """)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "true\nnil\tcorrupt_model\ttrue\nio\n")
    }

    func testDryRunDoesNotSave() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("opsh-predict-dry-\(UUID().uuidString)").path
        let r = lua("""
            local p = predict.new()
            p:observe{ requests = 3 }
            local res = p:save("\(path)")
            print(res.dry_run, res.would)
            """, flags: ["--dry-run"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("true\tsave the predictor to \(path)\n"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testHelpShowsTheModule() {
        let r = Harness.run(["help", "opsh.predict"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("predict.new(opts)"), r.stdout)
        XCTAssertTrue(r.stdout.contains("predictor:observe(sample)"), r.stdout)
    }
}
