import Foundation
import OpshTestSupport
import XCTest

/// `opsh list --guide` and docs/procedures.md: every item of the operations guide has a row (a
/// procedure that claims it, another issue's plan, or the reason it cannot be done here), no
/// procedure claims an item the guide does not have, the tests named for each procedure exist,
/// and the committed document is what the generator makes today.
final class GuideCoverageTests: XCTestCase {
    func json(_ r: Run) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    func testEveryItemHasARowAndEveryNamedTestExists() throws {
        let r = Harness.run(["list", "--guide", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let doc = json(r)
        XCTAssertEqual((doc["errors"] as? [String])?.count, 0, "\(doc["errors"] ?? r.stdout)")
        let items = doc["items"] as? [[String: Any]] ?? []
        XCTAssertGreaterThan(items.count, 200, "the guide has more than 200 items")
        // every test named in the inventory is a real test method of a real test class
        var classes = Set<String>(), methods = Set<String>()
        let tests = Harness.packageRoot.appendingPathComponent("Tests")
        let enumerator = FileManager.default.enumerator(atPath: tests.path)!
        while let f = enumerator.nextObject() as? String {
            guard f.hasSuffix(".swift"), let text = try? String(contentsOf: tests.appendingPathComponent(f), encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "(" || $0 == ":" })
                for (i, w) in words.enumerated() where i + 1 < words.count {
                    if w == "class" { classes.insert(String(words[i + 1])) }
                    if w == "func" { methods.insert(String(words[i + 1])) }
                }
            }
        }
        var named = 0
        for item in items {
            let state = item["state"] as? String ?? ""
            XCTAssertTrue(["covered", "in progress", "cannot"].contains(state), "\(item)")
            if state == "covered" { XCTAssertFalse((item["tests"] as? [String] ?? []).isEmpty, "\(item)") }
            if state == "cannot" { XCTAssertFalse((item["cannot"] as? String ?? "").isEmpty, "\(item)") }
            for t in item["tests"] as? [String] ?? [] {
                let parts = t.split(separator: ".")
                XCTAssertEqual(parts.count, 2, t)
                XCTAssertTrue(classes.contains(String(parts[0])), "no test class \(parts[0]) (\(t))")
                XCTAssertTrue(methods.contains(String(parts[1])), "no test method \(t)")
                named += 1
            }
        }
        XCTAssertGreaterThan(named, 0)
    }

    func testAClaimOfAnItemTheGuideDoesNotHaveFails() {
        let dir = Harness.tempDir("claims")
        Harness.write("""
        return { description = "claims too much", categories = { "safe" },
          guide = { "daily-checklist.1", "daily-checklist.99" }, run = function() end }
        """, to: "mine/overclaim.lua", in: dir)
        let r = Harness.run(["--path", dir.path, "list", "--guide"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stderr.contains("mine/overclaim claims guide item daily-checklist.99, which the guide does not have"), r.stderr)
        XCTAssertTrue(r.stderr.contains("mine/overclaim claims daily-checklist.1 but no test is named for it"), r.stderr)
    }

    func testAnItemNobodyDoesIsAnError() {
        // the coverage against an empty catalog: every claimed item loses its procedure; an
        // item another issue plans to build is not an error (one is added: every item of the
        // guide may be built by now)
        let r = Harness.run(["-e", """
        local items = require "opsh.guide_items"
        table.insert(items.items, { id = "later.1", section = "Later", text = "done by a later issue", line = 1, planned = "later/thing", issue = 99 })
        local rows, errors = require("opsh.coverage").build({})
        for _, e in ipairs(errors) do print(e) end
        for _, row in ipairs(rows) do if row.item.id == "later.1" then print("later.1 is " .. row.state) end end
        """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("guide item daily-checklist.5 (5. Check logs for errors) has no procedure, no plan and no reason"), r.stdout)
        XCTAssertTrue(r.stdout.contains("later.1 is in progress"), r.stdout)
        XCTAssertFalse(r.stdout.contains("later.1 ("), "an item planned in another issue is not an error")
    }

    func testProceduresDocIsUpToDate() throws {
        let r = Harness.run(["list", "--guide", "--markdown"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let committed = try String(contentsOf: Harness.packageRoot.appendingPathComponent("docs/procedures.md"), encoding: .utf8)
        XCTAssertTrue(committed == r.stdout, "docs/procedures.md is out of date: run scripts/procedures-doc")
    }

    /// The inventory is the guide's items as opsh.coverage.extract finds them: no item is missing,
    /// none is invented, ids and texts agree. Needs the guide itself (OPSH_GUIDE, else the shared copy).
    func testInventoryIsExactlyTheGuidesItems() throws {
        let path = ProcessInfo.processInfo.environment["OPSH_GUIDE"] ?? "/work/shared/guide/operations-guide.md"
        guard FileManager.default.fileExists(atPath: path) else {
            FileHandle.standardError.write("\n*** GUIDE NOT FOUND at \(path): set OPSH_GUIDE ***\n\n".data(using: .utf8)!)
            throw XCTSkip("the operations guide is not at \(path)")
        }
        let r = Harness.run(["-e", """
        local coverage, inventory = require "opsh.coverage", require "opsh.guide_items"
        local f = assert(io.open(\"\(path)\"))
        local found = coverage.extract(f:read("a"))
        f:close()
        local problems = 0
        for i = 1, math.max(#found, #inventory.items) do
          local a, b = found[i], inventory.items[i]
          if not a or not b or a.id ~= b.id or a.text ~= b.text or a.section ~= b.section or a.line ~= b.line then
            problems = problems + 1
            print("guide: " .. (a and (a.id .. " " .. a.text) or "-") .. " | inventory: " .. (b and (b.id .. " " .. b.text) or "-"))
          end
        end
        print(#found .. " items, " .. problems .. " differences")
        """])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasSuffix(" items, 0 differences\n"), r.stdout)
    }
}
