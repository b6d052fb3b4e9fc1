import Foundation
import OpshTestSupport
import XCTest

/// The users/ procedures against a real redis-server, driven through the built binary.
final class UserTests: XCTestCase {
    var redis: RedisServer!
    var home: URL!
    /// Every plaintext key the tests have seen, to prove none of them is stored in Redis.
    var issuedKeys: [String] = []

    override func setUpWithError() throws {
        redis = try RedisServer()
        home = Harness.tempDir("home")
        issuedKeys = []
    }

    override func tearDown() {
        redis?.stop()
        redis = nil
    }

    // MARK: helpers

    @discardableResult
    func opsh(_ args: [String], stdin: String? = nil, extraEnv: [String: String] = [:]) -> Run {
        var env = ["REDIS_URL": redis.url, "HOME": home.path]
        for (k, v) in extraEnv { env[k] = v }
        return Harness.run(args, stdin: stdin, env: env)
    }

    /// redis-cli against the test server; stdout lines.
    func cli(_ args: [String]) -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        p.arguments = ["-h", "127.0.0.1", "-p", String(redis.port)] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try! p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init).filter { !$0.isEmpty }
    }

    func hgetall(_ key: String) -> [String: String] {
        let lines = cli(["HGETALL", key])
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < lines.count { out[lines[i]] = lines[i + 1]; i += 2 }
        return out
    }

    func mode(_ path: String) -> Int {
        let attrs = try! FileManager.default.attributesOfItem(atPath: path)
        return (attrs[.posixPermissions] as! NSNumber).intValue & 0o777
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func keyFile(_ name: String) -> String { home.appendingPathComponent("keys-\(name)-\(UUID().uuidString.prefix(6)).key").path }

    /// Creates a user with its key in a file; returns the key.
    @discardableResult
    func create(_ name: String, role: String, file: String? = nil) -> String {
        let path = file ?? keyFile(name)
        let r = opsh(["run", "users/create", "--name", name, "--role", role, "--key-file", path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        let key = read(path).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(key.count, 64)
        issuedKeys.append(key)
        assertNoKeys(in: r)
        return key
    }

    func verify(_ key: String) -> Run { opsh(["run", "users/verify-key"], stdin: key + "\n") }

    func assertNoKeys(in r: Run, file: StaticString = #filePath, line: UInt = #line) {
        for k in issuedKeys {
            XCTAssertFalse(r.stdout.contains(k), "a key is in stdout", file: file, line: line)
            XCTAssertFalse(r.stderr.contains(k), "a key is in stderr", file: file, line: line)
        }
    }

    func isHex64(_ s: String) -> Bool { s.count == 64 && s.allSatisfy { $0.isHexDigit && !$0.isUppercase } }

    // MARK: tests

    func testCreateWritesA0600KeyFileAndNeverPrintsTheKey() throws {
        let path = keyFile("alice")
        let r = opsh(["--json", "run", "users/create", "--name", "alice", "--role", "operator", "--key-file", path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(mode(path), 0o600)
        let key = read(path).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(isHex64(key), "key: \(key.count) chars")
        issuedKeys.append(key)
        assertNoKeys(in: r)
        XCTAssertTrue(r.stdout.contains(path), "the --json report says where the key went")
        XCTAssertTrue(r.stderr.contains(path), "the path is printed")
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["status"] as? String, "ok")

        // the layout: hash + prefix, no plaintext; the index names the user
        let u = hgetall("user:alice")
        XCTAssertNil(u["api_key"])
        XCTAssertEqual(u["role"], "operator")
        XCTAssertEqual(u["status"], "active")
        XCTAssertEqual(u["api_key_prefix"], String(key.prefix(8)))
        let hash = try XCTUnwrap(u["api_key_sha256"])
        XCTAssertTrue(isHex64(hash))
        XCTAssertNotEqual(hash, key)
        XCTAssertNotNil(u["created_at"]); XCTAssertNotNil(u["updated_at"]); XCTAssertNotNil(u["key_created_at"])
        XCTAssertEqual(cli(["GET", "apikey:\(hash)"]), ["alice"])

        // the default place: a new 0600 file under ~/.config/opsh/keys, its path in the report
        let d = opsh(["run", "users/create", "--name", "bob", "--role", "viewer"])
        XCTAssertEqual(d.status, 0, d.stdout + d.stderr)
        let dir = home.appendingPathComponent(".config/opsh/keys").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files.count, 1)
        let defaultPath = dir + "/" + files[0]
        XCTAssertTrue(files[0].hasPrefix("bob-") && files[0].hasSuffix(".key"), files[0])
        XCTAssertEqual(mode(defaultPath), 0o600)
        XCTAssertTrue(d.stdout.contains(defaultPath), d.stdout)
        issuedKeys.append(read(defaultPath).trimmingCharacters(in: .whitespacesAndNewlines))
        assertNoKeys(in: d)

        // an existing user is refused, and nothing about it changes
        let again = opsh(["run", "users/create", "--name", "alice", "--role", "admin", "--key-file", keyFile("alice2")])
        XCTAssertEqual(again.status, 2, again.stdout + again.stderr)
        XCTAssertTrue(again.stdout.contains("already exists"), again.stdout)
        XCTAssertEqual(hgetall("user:alice")["role"], "operator")
        // an unknown role and a bad name are refused
        XCTAssertEqual(opsh(["run", "users/create", "--name", "carol", "--role", "root", "--key-file", keyFile("c")]).status, 2)
        XCTAssertEqual(opsh(["run", "users/create", "--name", "a:b*", "--role", "viewer", "--key-file", keyFile("c")]).status, 2)
        XCTAssertEqual(hgetall("user:carol").count, 0)
        // an existing key file is never overwritten
        let clash = opsh(["run", "users/create", "--name", "dave", "--role", "viewer", "--key-file", path])
        XCTAssertEqual(clash.status, 2, clash.stdout)
        XCTAssertEqual(read(path).trimmingCharacters(in: .whitespacesAndNewlines), key)
        XCTAssertEqual(hgetall("user:dave").count, 0)
    }

    func testVerifyKeyAcceptsTheKeyAndRejectsWrongKeysAndDisabledUsers() {
        let key = create("alice", role: "admin")
        let ok = verify(key)
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("alice") && ok.stdout.contains("admin"), ok.stdout)
        assertNoKeys(in: ok)

        // from a file as well
        let path = keyFile("v")
        try! (key + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(opsh(["run", "users/verify-key", "--key-file", path]).status, 0)

        // a wrong key, a key one character off, and no key at all
        XCTAssertEqual(verify(String(repeating: "0", count: 64)).status, 2)
        var off = Array(key); off[63] = off[63] == "a" ? "b" : "a"
        XCTAssertEqual(verify(String(off)).status, 2)
        XCTAssertEqual(opsh(["run", "users/verify-key"], stdin: "").status, 3)
        // no command-line argument for the key
        XCTAssertEqual(opsh(["run", "users/verify-key", "--key", key]).status, 3)

        // disabled: refused though the index is kept; enabled again: accepted
        let dis = opsh(["run", "users/disable", "--name", "alice"])
        XCTAssertEqual(dis.status, 0, dis.stdout + dis.stderr)
        XCTAssertEqual(hgetall("user:alice")["status"], "disabled")
        let hash = hgetall("user:alice")["api_key_sha256"]!
        XCTAssertEqual(cli(["GET", "apikey:\(hash)"]), ["alice"])
        let refused = verify(key)
        XCTAssertEqual(refused.status, 2, refused.stdout)
        XCTAssertTrue(refused.stdout.contains("disabled"), refused.stdout)
        XCTAssertEqual(opsh(["run", "users/enable", "--name", "alice"]).status, 0)
        XCTAssertEqual(verify(key).status, 0)
        // unknown users
        XCTAssertEqual(opsh(["run", "users/disable", "--name", "nobody"]).status, 2)
        XCTAssertEqual(hgetall("user:nobody").count, 0)
    }

    func testResetKeyInvalidatesTheOldKey() {
        let old = create("alice", role: "operator")
        let oldHash = hgetall("user:alice")["api_key_sha256"]!
        let path = keyFile("new")
        let r = opsh(["--json", "run", "users/reset-key", "--name", "alice", "--key-file", path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(mode(path), 0o600)
        let new = read(path).trimmingCharacters(in: .whitespacesAndNewlines)
        issuedKeys.append(new)
        XCTAssertNotEqual(new, old)
        assertNoKeys(in: r)
        XCTAssertTrue(r.stdout.contains(path))
        XCTAssertEqual(verify(old).status, 2)
        XCTAssertEqual(verify(new).status, 0)
        XCTAssertEqual(cli(["EXISTS", "apikey:\(oldHash)"]), ["0"], "the old index is gone")
        XCTAssertEqual(hgetall("user:alice")["api_key_prefix"], String(new.prefix(8)))
        XCTAssertEqual(hgetall("user:alice")["role"], "operator")
        XCTAssertEqual(opsh(["run", "users/reset-key", "--name", "nobody", "--key-file", keyFile("x")]).status, 2)
    }

    func testRotateAllNeedsYesAndWritesOne0600File() throws {
        let a = create("alice", role: "admin")
        let b = create("bob", role: "viewer")
        // a guide-style user is rotated too, and loses its plaintext field
        let g = String(repeating: "ab", count: 32)
        issuedKeys.append(g)
        _ = cli(["HSET", "user:guide", "api_key", g, "role", "operator", "status", "active"])

        let path = keyFile("rotation")
        // no terminal, no --yes: refused, nothing changed
        let refused = opsh(["run", "users/rotate-all", "--key-file", path])
        XCTAssertEqual(refused.status, 3, refused.stdout + refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--yes"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(verify(a).status, 0)

        // --dry-run lists who would be rotated, changes nothing
        let before = ["alice", "bob", "guide"].map { hgetall("user:\($0)") }
        let dry = opsh(["--dry-run", "run", "users/rotate-all", "--key-file", path])
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
        for n in ["alice", "bob", "guide"] { XCTAssertTrue(dry.stdout.contains("users.rotate.\(n)"), dry.stdout) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(["alice", "bob", "guide"].map { hgetall("user:\($0)") }, before)

        // --yes: every user gets a new key, all in one 0600 file
        let r = opsh(["--yes", "--json", "run", "users/rotate-all", "--key-file", path])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertEqual(mode(path), 0o600)
        XCTAssertTrue(r.stdout.contains(path) && r.stderr.contains(path))
        var newKeys: [String: String] = [:]
        for line in read(path).split(separator: "\n") {
            let parts = line.split(separator: " ")
            XCTAssertEqual(parts.count, 2)
            newKeys[String(parts[0])] = String(parts[1])
        }
        XCTAssertEqual(Set(newKeys.keys), ["alice", "bob", "guide"])
        issuedKeys.append(contentsOf: newKeys.values)
        assertNoKeys(in: r)
        XCTAssertEqual(verify(a).status, 2)
        XCTAssertEqual(verify(b).status, 2)
        XCTAssertEqual(verify(g).status, 2)
        for (name, key) in newKeys {
            let v = verify(key)
            XCTAssertEqual(v.status, 0, v.stdout)
            XCTAssertTrue(v.stdout.contains(name), v.stdout)
        }
        XCTAssertNil(hgetall("user:guide")["api_key"])
        XCTAssertEqual(hgetall("user:alice")["role"], "admin")
        // every index entry belongs to a current key: three users, three entries
        XCTAssertEqual(cli(["--scan", "--pattern", "apikey:*"]).count, 3)
    }

    func testCheckPermissionFollowsTheGuidesMatrix() throws {
        create("ann", role: "admin"); create("oscar", role: "operator"); create("vera", role: "viewer")
        let all = ["read_collections", "write_collections", "delete_collections", "manage_users", "view_metrics",
                   "system_config", "restart_services", "backup_restore"]
        let granted: [String: Set<String>] = [
            "ann": ["read_collections", "write_collections", "delete_collections", "manage_users", "view_metrics", "system_config"],
            "oscar": ["read_collections", "view_metrics", "restart_services", "backup_restore"],
            "vera": ["read_collections", "view_metrics"],
        ]
        for (user, perms) in granted {
            for p in all {
                let r = opsh(["run", "users/check-permission", "--name", user, "--permission", p])
                XCTAssertEqual(r.status, perms.contains(p) ? 0 : 2, "\(user) \(p): \(r.stdout)")
            }
        }
        // unknown user, disabled user
        XCTAssertEqual(opsh(["run", "users/check-permission", "--name", "nobody", "--permission", "read_collections"]).status, 2)
        XCTAssertEqual(opsh(["run", "users/disable", "--name", "ann"]).status, 0)
        let dis = opsh(["run", "users/check-permission", "--name", "ann", "--permission", "read_collections"])
        XCTAssertEqual(dis.status, 2)
        XCTAssertTrue(dis.stdout.contains("disabled"), dis.stdout)

        // config "roles" overrides the matrix: a new role, a changed role, a removed role
        let cfg = Harness.write("""
            return { roles = { auditor = { "view_metrics" }, viewer = { permissions = { "view_metrics" } }, operator = false } }
            """, to: "config.lua")
        func check(_ user: String, _ p: String) -> Int32 {
            opsh(["--config", cfg, "run", "users/check-permission", "--name", user, "--permission", p]).status
        }
        XCTAssertEqual(check("vera", "view_metrics"), 0)
        XCTAssertEqual(check("vera", "read_collections"), 2)
        XCTAssertEqual(check("oscar", "read_collections"), 2)
        let au = opsh(["--config", cfg, "run", "users/create", "--name", "audrey", "--role", "auditor", "--key-file", keyFile("au")])
        XCTAssertEqual(au.status, 0, au.stdout + au.stderr)
        XCTAssertEqual(check("audrey", "view_metrics"), 0)
        XCTAssertEqual(check("audrey", "read_collections"), 2)
        XCTAssertEqual(opsh(["--config", cfg, "run", "users/create", "--name", "otto", "--role", "operator",
                             "--key-file", keyFile("o")]).status, 2)
    }

    func testMigratePlaintextKeepsTheKeyWorkingAndRemovesThePlaintext() throws {
        let plain = String((0..<32).map { String(format: "%02x", ($0 * 37 + 11) % 256) }.joined())
        XCTAssertEqual(plain.count, 64)
        issuedKeys.append(plain)
        _ = cli(["HSET", "user:x", "api_key", plain, "role", "operator", "status", "active", "created_at", "2024-05-01T10:00:00+00:00"])
        create("alice", role: "viewer")

        // the guide's layout is flagged, and its key does not verify before migration
        let list = opsh(["run", "users/list"])
        XCTAssertEqual(list.status, 1, list.stdout)
        XCTAssertTrue(list.stdout.contains("plaintext"), list.stdout)
        assertNoKeys(in: list)
        XCTAssertEqual(verify(plain).status, 2)
        let show = opsh(["run", "users/show", "--name", "x"])
        assertNoKeys(in: show)
        XCTAssertEqual(show.status, 1, show.stdout)

        // --dry-run changes nothing
        let before = hgetall("user:x")
        let keysBefore = Set(cli(["--scan"]))
        let dry = opsh(["--dry-run", "run", "users/migrate-plaintext"])
        XCTAssertEqual(dry.status, 0, dry.stdout + dry.stderr)
        XCTAssertTrue(dry.stdout.contains("would"), dry.stdout)
        assertNoKeys(in: dry)
        XCTAssertEqual(hgetall("user:x"), before)
        XCTAssertEqual(Set(cli(["--scan"])), keysBefore)

        let r = opsh(["--yes", "--json", "run", "users/migrate-plaintext"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("users.migrate.x"), r.stdout)
        assertNoKeys(in: r)
        let u = hgetall("user:x")
        XCTAssertNil(u["api_key"])
        XCTAssertEqual(u["api_key_prefix"], String(plain.prefix(8)))
        XCTAssertEqual(u["key_created_at"], "2024-05-01T10:00:00+00:00")
        XCTAssertEqual(u["role"], "operator")
        let v = verify(plain)
        XCTAssertEqual(v.status, 0, v.stdout)
        XCTAssertTrue(v.stdout.contains("x (role operator)"), v.stdout)
        XCTAssertEqual(opsh(["run", "users/list"]).status, 0)
        // a second run has nothing to do
        let again = opsh(["--yes", "run", "users/migrate-plaintext"])
        XCTAssertEqual(again.status, 0)
        XCTAssertTrue(again.stdout.contains("no plaintext keys"), again.stdout)
    }

    /// The guide's reset (`hset user:x api_key NEW`) run on a migrated user: the plaintext key is the newer one.
    func testMigrateAfterAGuideStyleResetReplacesTheHashedKey() {
        let old = create("alice", role: "operator")
        let oldHash = hgetall("user:alice")["api_key_sha256"]!
        let guideKey = String(repeating: "c3", count: 32)
        issuedKeys.append(guideKey)
        _ = cli(["HSET", "user:alice", "api_key", guideKey])
        let r = opsh(["--yes", "run", "users/migrate-plaintext"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("replaced a different hashed key"), r.stdout)
        assertNoKeys(in: r)
        XCTAssertEqual(verify(guideKey).status, 0)
        XCTAssertEqual(verify(old).status, 2)
        XCTAssertEqual(cli(["EXISTS", "apikey:\(oldHash)"]), ["0"])
        XCTAssertNil(hgetall("user:alice")["api_key"])
    }

    func testModuleHelp() {
        let r = Harness.run(["help", "opsh.users"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("users.verify") && r.stdout.contains("apikey:"), r.stdout)
    }

    func testDryRunChangesNothing() {
        let key = create("alice", role: "operator")
        let keysBefore = Set(cli(["--scan"]))
        let userBefore = hgetall("user:alice")
        let path = keyFile("dry")
        for args in [["users/create", "--name", "bob", "--role", "viewer", "--key-file", path],
                     ["users/reset-key", "--name", "alice", "--key-file", path],
                     ["users/disable", "--name", "alice"]] {
            let r = opsh(["--dry-run", "run"] + args)
            XCTAssertEqual(r.status, 0, "\(args): \(r.stdout) \(r.stderr)")
            XCTAssertTrue(r.stdout.contains("would"), r.stdout)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path), "\(args) wrote a key file")
            assertNoKeys(in: r)
        }
        XCTAssertEqual(Set(cli(["--scan"])), keysBefore)
        XCTAssertEqual(hgetall("user:alice"), userBefore)
        XCTAssertEqual(verify(key).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: home.appendingPathComponent(".config/opsh/keys").path))
    }

    func testListAndShowAreRedacted() {
        let key = create("alice", role: "admin")
        create("bob", role: "viewer")
        _ = opsh(["run", "users/disable", "--name", "bob"])
        let hash = hgetall("user:alice")["api_key_sha256"]!
        let list = opsh(["--json", "run", "users/list"])
        XCTAssertEqual(list.status, 0, list.stdout + list.stderr)
        XCTAssertTrue(list.stdout.contains("users.alice") && list.stdout.contains("users.bob"), list.stdout)
        XCTAssertTrue(list.stdout.contains(String(key.prefix(8))), "the prefix identifies the key")
        XCTAssertFalse(list.stdout.contains(hash))
        XCTAssertTrue(list.stdout.contains("disabled"))
        assertNoKeys(in: list)
        let show = opsh(["run", "users/show", "--name", "alice"])
        XCTAssertEqual(show.status, 0, show.stdout)
        XCTAssertTrue(show.stdout.contains("manage_users"), show.stdout)
        XCTAssertFalse(show.stdout.contains(hash))
        assertNoKeys(in: show)
        XCTAssertEqual(opsh(["run", "users/show", "--name", "nobody"]).status, 2)
    }

    /// Runs opsh on a pseudo-terminal (util-linux `script`), so stdin, stdout and stderr are TTYs.
    func onTerminal(_ args: [String], input: String? = nil) throws -> Run {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("util-linux script is missing") }
        let quoted = ([Harness.binary.path] + args).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        return Harness.run(["-qec", quoted.joined(separator: " "), "/dev/null"], stdin: input,
                           env: ["REDIS_URL": redis.url, "HOME": home.path, "NO_COLOR": "1"],
                           executable: URL(fileURLWithPath: "/usr/bin/script"))
    }

    func testOnATerminalTheKeyIsShownOnceAndNoFileIsWritten() throws {
        let r = try onTerminal(["run", "users/create", "--name", "tina", "--role", "viewer"])
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
        // a terminal ends lines with "\r\n" (one Character in Swift): split on scalars
        let keys = r.stdout.components(separatedBy: .whitespacesAndNewlines).filter(isHex64)
        XCTAssertEqual(keys.count, 1, "the key is shown exactly once: \(r.stdout)")
        let key = try XCTUnwrap(keys.first)
        XCTAssertTrue(r.stdout.contains("shown once"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: home.appendingPathComponent(".config/opsh/keys").path))
        XCTAssertEqual(verify(key).status, 0)
        XCTAssertEqual(hgetall("user:tina")["api_key_prefix"], String(key.prefix(8)))

        // rotate-all asks on a terminal: "n" leaves every key alone, "y" rotates into one file
        let no = try onTerminal(["run", "users/rotate-all"], input: "n\n")
        XCTAssertEqual(no.status, 3, no.stdout)
        XCTAssertTrue(no.stdout.contains("Continue?"), no.stdout)
        XCTAssertEqual(verify(key).status, 0)
        let yes = try onTerminal(["run", "users/rotate-all"], input: "y\n")
        XCTAssertEqual(yes.status, 0, yes.stdout)
        XCTAssertFalse(yes.stdout.contains(key))
        let dir = home.appendingPathComponent(".config/opsh/keys").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        XCTAssertEqual(files.count, 1)
        XCTAssertTrue(files[0].hasPrefix("rotate-all-") && yes.stdout.contains(files[0]), yes.stdout)
        XCTAssertEqual(mode(dir + "/" + files[0]), 0o600)
        XCTAssertEqual(verify(key).status, 2)
        let newKey = String(read(dir + "/" + files[0]).split(separator: " ")[1].prefix(64))
        XCTAssertFalse(yes.stdout.contains(newKey), "rotated keys go only to the file")
        XCTAssertEqual(verify(newKey).status, 0)
    }

    /// After every operation, `redis-cli --scan` and a dump of every value find no plaintext key.
    func testNoPlaintextKeyAnywhereInRedis() {
        create("alice", role: "admin")
        create("bob", role: "operator")
        create("vera", role: "viewer")
        let g = String(repeating: "5e", count: 32)
        issuedKeys.append(g)
        _ = cli(["HSET", "user:guide", "api_key", g, "role", "viewer", "status", "active"])
        XCTAssertEqual(opsh(["--yes", "run", "users/migrate-plaintext"]).status, 0)
        let p = keyFile("reset")
        XCTAssertEqual(opsh(["run", "users/reset-key", "--name", "bob", "--key-file", p]).status, 0)
        issuedKeys.append(read(p).trimmingCharacters(in: .whitespacesAndNewlines))
        _ = opsh(["run", "users/disable", "--name", "vera"])
        let rot = keyFile("rot")
        XCTAssertEqual(opsh(["--yes", "run", "users/rotate-all", "--key-file", rot]).status, 0)
        for line in read(rot).split(separator: "\n") { issuedKeys.append(String(line.split(separator: " ")[1])) }
        XCTAssertEqual(issuedKeys.count, 9)

        var everything: [String] = []
        let keys = cli(["--scan"])
        XCTAssertFalse(keys.isEmpty)
        for k in keys {
            everything.append(k)
            switch cli(["TYPE", k]).first {
            case "hash": everything += cli(["HGETALL", k])
            case "string": everything += cli(["GET", k])
            default: XCTFail("unexpected key \(k)")
            }
        }
        let dump = everything.joined(separator: "\n")
        for key in issuedKeys { XCTAssertFalse(dump.contains(key), "a plaintext key is stored in Redis") }
        XCTAssertFalse(everything.contains("api_key"), "no api_key field remains")
    }
}
