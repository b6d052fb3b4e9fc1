import XCTest
import YAML

/// YAML syntax checks on the real libyaml, from Swift alone.
final class YAMLTests: XCTestCase {
    func testDocumentsAreCounted() throws {
        XCTAssertEqual(try YAMLSyntax.check("a: 1\nb: [1, 2]\n"), 1)
        XCTAssertEqual(try YAMLSyntax.check("---\na: 1\n---\nb: 2\n"), 2)
        XCTAssertEqual(try YAMLSyntax.check(""), 0)
    }

    func testASyntaxErrorSaysWhere() {
        XCTAssertThrowsError(try YAMLSyntax.check("services:\n  web:\n    image: x\n   ports: [80\n")) { error in
            guard case .syntax(let line, _, let message) = error as? YAMLSyntax.Failure else {
                return XCTFail("expected a syntax failure, got \(error)")
            }
            XCTAssertGreaterThanOrEqual(line, 3)
            XCTAssertFalse(message.isEmpty)
        }
    }
}
