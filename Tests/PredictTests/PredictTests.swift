import XCTest
@testable import Predict

final class SmokeTests: XCTestCase {
    func testSmoke() throws {
        var p = try LoadPredictor()
        for i in 0..<3000 {
            let t = 1_700_000_000.0 + Double(i) * 5
            let r = 25 + 15 * sin(2 * Double.pi * t / 3600) + Double((i * 7919) % 13) * 0.3
            try p.observe(Sample(t: t, requests: r))
        }
        let f = try p.predict(horizon: 25)
        print(f)
        for a in p.accuracy() { print(a.horizonSeconds, a.source, a.mae as Any, a.mase as Any, a.count) }
        print(p.lastTraining!.duration, p.retrains)
    }
}
