import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import Synchronization

/// The limits every connection is held to, shared by all of them and changed by a reload.
public final class ConnectionLimits: @unchecked Sendable {
    struct Settings { var maxConnections: Int; var bodyTimeout: Double; var idleTimeout: Double }
    let open = Atomic<Int>(0)
    let settings: Mutex<Settings>
    let refusedTotal = Atomic<Int>(0)
    let timedOutTotal = Atomic<Int>(0)

    public init(maxConnections: Int, bodyTimeout: Double, idleTimeout: Double) {
        settings = Mutex(Settings(maxConnections: maxConnections, bodyTimeout: bodyTimeout, idleTimeout: idleTimeout))
    }

    public func reconfigure(maxConnections: Int, bodyTimeout: Double, idleTimeout: Double) {
        settings.withLock { $0 = Settings(maxConnections: maxConnections, bodyTimeout: bodyTimeout, idleTimeout: idleTimeout) }
    }

    public var openConnections: Int { open.load(ordering: .relaxed) }
}

/// One per connection, after the HTTP decoder: refuses a connection above
/// agent_max_connections with a 503 that says so (then closes it), answers a body that does
/// not arrive within agent_body_timeout of its headers with a 408 (then closes: a client
/// sending a byte a second holds a connection for that long at most), and closes a connection
/// that sends no complete request head within agent_idle_timeout (an idle keep-alive
/// connection, or headers sent a byte at a time). Other connections never wait on these.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limits: ConnectionLimits
    let logger: Logger
    var counted = false
    var refused = false
    /// A response head went out and its end has not: the request is being answered.
    var answering = false
    /// Headers arrived and the body's end has not.
    var readingBody = false
    var timer: Scheduled<Void>?
    /// A refusal or a timeout was answered: what the client still sends is dropped.
    var closing = false

    init(limits: ConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { activate(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        activate(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        leave()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { leave() }

    private func activate(_ context: ChannelHandlerContext) {
        guard !counted else { return }
        counted = true
        let n = limits.open.wrappingAdd(1, ordering: .relaxed).newValue
        let s = limits.settings.withLock { $0 }
        if n > s.maxConnections {
            refused = true
            limits.refusedTotal.wrappingAdd(1, ordering: .relaxed)
            logger.warning("connection from \(context.channel.remoteAddress?.description ?? "?") refused: \(n - 1) connections open (agent_max_connections \(s.maxConnections))")
            respondAndClose(context, status: .serviceUnavailable, code: "too_many_connections",
                            message: "too many connections: the agent holds at most \(s.maxConnections) at once; retry later")
            return
        }
        arm(context, seconds: s.idleTimeout, reason: "no complete request head")
    }

    private func leave() {
        timer?.cancel()
        timer = nil
        if counted {
            counted = false
            limits.open.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused || closing { return }
        switch unwrapInboundIn(data) {
        case .head:
            readingBody = true
            arm(context, seconds: limits.settings.withLock { $0.bodyTimeout }, reason: "request body")
        case .body: break
        case .end:
            readingBody = false
            timer?.cancel()
            timer = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head:
            answering = true
            // the request is answered (perhaps refused before its body was read): no body timer
            if readingBody { timer?.cancel(); timer = nil }
        case .body: break
        case .end:
            answering = false
            if !readingBody { arm(context, seconds: limits.settings.withLock { $0.idleTimeout }, reason: "no complete request head") }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, seconds: Double, reason: String) {
        timer?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
            let (handler, context) = loopBound.value
            handler.expired(context, seconds: seconds, reason: reason)
        }
    }

    private func expired(_ context: ChannelHandlerContext, seconds: Double, reason: String) {
        timer = nil
        limits.timedOutTotal.wrappingAdd(1, ordering: .relaxed)
        let peer = context.channel.remoteAddress?.description ?? "?"
        if readingBody && !answering {
            logger.notice("connection from \(peer) closed: the request body did not arrive within \(seconds) s (agent_body_timeout)")
            respondAndClose(context, status: .requestTimeout, code: "body_timeout",
                            message: "the request body did not arrive within \(BodySchema.text(seconds)) s (agent_body_timeout)")
        } else if !answering {
            logger.debug("connection from \(peer) closed: \(reason) within \(seconds) s (agent_idle_timeout)")
            context.close(promise: nil)
        }
    }

    private func respondAndClose(_ context: ChannelHandlerContext, status: HTTPResponse.Status, code: String, message: String) {
        let body = APIError(status: status.code, code: code, message: message).json.bytes
        var head = HTTPResponse(status: status)
        head.headerFields[.contentType] = "application/json"
        head.headerFields[.contentLength] = String(body.count)
        head.headerFields[.connection] = "close"
        answering = true
        closing = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: body))), promise: nil)
        // Half-close first: the answer is not lost to a reset when the client's request is still
        // unread here; the connection is closed for good a second later.
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            let context = loopBound.value
            context.close(mode: .output, promise: nil)
            context.eventLoop.scheduleTask(in: .seconds(1)) { context.close(promise: nil) }
        }
    }
}
