import EventLoop
import HTTP

/// A streamed response of the engine read as lines: container logs (multiplexed, or raw for a
/// TTY) and events (raw JSON lines). Lines are demultiplexed, split and filtered as the bytes
/// arrive, so a scan for "error" over 100 MB keeps only the matching lines; the queue of kept
/// lines is bounded, and the transfer is paused while it is full (the daemon then waits).
public final class DockerLineStream {
    public typealias Stream = DockerFrameDecoder.Stream

    public struct Options: Sendable {
        public var tty = false
        public var matcher = LineMatcher(patterns: [], ignoreCase: false)
        /// Lines kept but not yet taken, in bytes, before the transfer pauses.
        public var maxQueued = 4 << 20
        public var maxLine = 1 << 20
        public init() {}
    }

    let transfer: HTTPTransfer
    let options: Options
    var decoder = DockerFrameDecoder()
    var splitter: LineSplitter
    var queue: [(Stream, [UInt8])] = []
    var head = 0
    var queuedBytes = 0
    var status = 0
    var errorBody: [UInt8] = []
    public private(set) var scannedLines = 0
    public private(set) var scannedBytes = 0
    public private(set) var finished = false
    /// Why the stream ended early: a cut frame, a transfer error, or the engine's answer.
    public private(set) var error: DockerError?
    /// The HTTP status when the engine refused the request (its message is in `error`).
    public private(set) var refusedStatus: Int?
    /// Called (from a loop handler) when lines arrive or the stream ends.
    public var onReady: (() -> Void)?

    public init(request: HTTPRequest, options: Options) throws(DockerError) {
        do throws(HTTPError) { transfer = try HTTPTransfer(request) } catch {
            throw DockerError(.transfer, error.message)
        }
        self.options = options
        self.splitter = LineSplitter(maxLine: options.maxLine)
        transfer.sink = { [unowned self] bytes in self.receive(bytes) }
    }

    deinit { transfer.sink = nil }

    public func start(on multi: CurlMulti) {
        transfer.start(on: multi) { [weak self] result in self?.end(result) }
    }

    /// Ends the stream now (a bound was reached); no more lines arrive.
    public func cancel() {
        transfer.cancel()
        finished = true
    }

    public var hasLines: Bool { head < queue.count }

    /// The next kept line, if one is queued.
    public func next() -> (Stream, [UInt8])? {
        guard head < queue.count else { return nil }
        let item = queue[head]
        head += 1
        queuedBytes -= item.1.count
        if head == queue.count { queue.removeAll(keepingCapacity: true); head = 0 }
        if queuedBytes < options.maxQueued / 2 && !finished { transfer.resume() }
        return item
    }

    func receive(_ bytes: UnsafeRawBufferPointer) -> HTTPTransfer.SinkAnswer {
        if status == 0 { status = transfer.status }
        if !(200..<300).contains(status) {
            if errorBody.count < 64 << 10 { errorBody.append(contentsOf: bytes.prefix(64 << 10 - errorBody.count)) }
            return .more
        }
        if queuedBytes >= options.maxQueued { return .pause }
        let before = queue.count
        scannedBytes += bytes.count
        if options.tty {
            splitter.feed(.stdout, bytes, keep)
        } else {
            do throws(DockerError) {
                try decoder.feed(bytes) { stream, piece in splitter.feed(stream, piece, keep) }
            } catch {
                self.error = error
                return .stop
            }
        }
        if queue.count > before { onReady?() }
        return .more
    }

    private func keep(_ stream: Stream, _ line: UnsafeRawBufferPointer) {
        scannedLines += 1
        guard options.matcher.matches(line) else { return }
        queue.append((stream, Array(line)))
        queuedBytes += line.count
    }

    func end(_ result: Result<HTTPResponse, HTTPError>) {
        finished = true
        switch result {
        case .success(let r):
            if !(200..<300).contains(r.status) {
                refusedStatus = r.status
                error = DockerError(.transfer, DockerAPI.daemonMessage(errorBody.isEmpty ? r.body : errorBody) ?? "HTTP \(r.status)")
            } else if decoder.midFrame && !options.tty {
                error = DockerError(.stream, "the log stream was \(decoder.cutDescription)")
            }
        case .failure(let e):
            if error == nil {
                if decoder.midFrame && !options.tty {
                    error = DockerError(.stream, "the log stream was \(decoder.cutDescription): \(e.message)")
                } else {
                    error = DockerAPI.error(from: e, endpointText: nil)
                }
            }
        }
        splitter.finish(keep)
        onReady?()
    }
}
