import Hummingbird

import ServiceLifecycle
import UnixSignals

public enum AgentMain {
    public static func main() {
        let router = Router()
        router.get("/health") { _, _ in "ok" }
        _ = router
    }
}
