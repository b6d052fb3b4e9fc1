import XCTest

final class QueueTests: XCTestCase {}
