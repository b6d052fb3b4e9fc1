import Docker
import XCTest

/// A container's environment with overrides applied, on its own (no engine needed).
final class ContainerEnvironmentTests: XCTestCase {
    func testOverridesReplaceInPlaceAppendTheNewAndKeepTheRest() throws {
        let env = ["PATH=/bin", "REDIS_URL=redis://primary:6379", "EMPTY=", "WITH=EQ=inside", "REDIS_URL=redis://dup:6379"]
        let out = try ContainerEnvironment.overriding(env, with: [("REDIS_URL", "redis://backup:6380"), ("NEW", "a b")])
        XCTAssertEqual(out, ["PATH=/bin", "REDIS_URL=redis://backup:6380", "EMPTY=", "WITH=EQ=inside", "REDIS_URL=redis://backup:6380", "NEW=a b"])
        XCTAssertEqual(try ContainerEnvironment.overriding(env, with: []), env, "no override: the list as it was")
        XCTAssertEqual(try ContainerEnvironment.overriding([], with: [("A", "")]), ["A="])
    }

    func testNamesAndValuesTheEngineCannotTakeAreRefused() {
        for bad in [("", "x"), ("A=B", "x"), ("A\0", "x"), ("A", "x\0y")] {
            XCTAssertThrowsError(try ContainerEnvironment.overriding(["A=1"], with: [(bad.0, bad.1)]), "\(bad)")
        }
        XCTAssertThrowsError(try ContainerEnvironment.overriding([], with: [("A", "1"), ("A", "2")])) { e in
            XCTAssertEqual((e as? ContainerEnvironment.Invalid)?.message, "A is overridden twice")
        }
    }
}
