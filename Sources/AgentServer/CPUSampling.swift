import Logging
import ServiceLifecycle
import Sys

/// Every agent_cpu_sample_interval seconds (default 5): a CPU sample of the machine and its
/// processes into state_dir/cpu, so that `opsh run system/resources` (and the daily check) on
/// this host measures CPU over the seconds since instead of waiting top's 0.15 s for a second
/// reading (docs/agent.md "CPU samples"). The interval and directory follow a reload.
struct CPUSampling: Service {
    let api: AgentAPI
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var failing = false
            while !Task.isCancelled {
                let s = api.currentSettings
                if s.cpuSampleInterval > 0 {
                    // a pass over /proc and a file write: on the blocking pool, not on a thread
                    // that answers requests
                    let dir = s.cpuSampleDirectory
                    let failure: String? = (try? await AgentPools.blocking { () -> String? in
                        do throws(SysReadError) { try CPUSampleDirectory(dir).write(try CPUSample.take()); return nil } catch { return error.message }
                    }) ?? "the blocking pool refused the work"
                    if let failure {
                        // said once, not every few seconds; runs fall back to their own interval
                        if !failing { logger.warning("CPU sample not written: \(failure)") }
                        failing = true
                    } else {
                        if failing { logger.info("CPU samples written again to \(dir)") }
                        failing = false
                    }
                }
                // off: looks again after a reload's worth of time
                let wait = s.cpuSampleInterval > 0 ? s.cpuSampleInterval : 5
                try? await Task.sleep(nanoseconds: UInt64(wait * 1e9))
            }
        }
    }
}
