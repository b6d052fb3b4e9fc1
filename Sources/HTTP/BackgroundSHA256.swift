import OpshCrypto
import Glibc

/// SHA-256 of a download computed on a thread of its own, fed the bytes as they arrive.
///
/// Hashing inline costs the event loop as much time as receiving and writing the data; on its own
/// core the hash runs beside them and is ready a moment after the last byte (still one pass: the
/// data is never read back). The queue is bounded, so a hash that falls behind slows the transfer
/// instead of growing memory.
final class BackgroundSHA256: @unchecked Sendable {
    private let sha: SHA256
    private var queue: [[UInt8]] = []
    private var queuedBytes = 0
    private var closed = false
    private var joined = false
    private var mutex = pthread_mutex_t()
    private var cond = pthread_cond_t()
    private var thread = pthread_t()
    static let maxQueuedBytes = 8 << 20

    /// nil when libcrypto is missing, or when no thread can be started (the caller hashes
    /// inline instead).
    init?() {
        guard let sha = try? SHA256() else { return nil }
        self.sha = sha
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&cond, nil)
        let me = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let h = Unmanaged<BackgroundSHA256>.fromOpaque(arg!).takeRetainedValue()
            h.run()
            return nil
        }, me)
        if rc != 0 {
            Unmanaged<BackgroundSHA256>.fromOpaque(me).release()
            joined = true
            return nil
        }
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        let chunk = Array(bytes)
        pthread_mutex_lock(&mutex)
        while queuedBytes > Self.maxQueuedBytes { pthread_cond_wait(&cond, &mutex) }
        queue.append(chunk)
        queuedBytes += chunk.count
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
    }

    /// Waits for the bytes fed so far and returns their digest.
    /// Also the way to stop the thread when the result is not wanted; call it once.
    func finish() -> [UInt8] {
        pthread_mutex_lock(&mutex)
        closed = true
        pthread_cond_broadcast(&cond)
        pthread_mutex_unlock(&mutex)
        if !joined {
            pthread_join(thread, nil)
            joined = true
        }
        return sha.finish()
    }

    private func run() {
        while true {
            pthread_mutex_lock(&mutex)
            while queue.isEmpty && !closed { pthread_cond_wait(&cond, &mutex) }
            if queue.isEmpty && closed {
                pthread_mutex_unlock(&mutex)
                return
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(&mutex)
            var n = 0
            for c in batch {
                c.withUnsafeBytes { sha.update($0) }
                n += c.count
            }
            pthread_mutex_lock(&mutex)
            queuedBytes -= n
            pthread_cond_broadcast(&cond)
            pthread_mutex_unlock(&mutex)
        }
    }
}
