import XCTest
@testable import Pickle

final class PickleTests: XCTestCase {}
