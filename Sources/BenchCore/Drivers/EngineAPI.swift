import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An HTTP client for the Docker Engine API and Podman's libpod API on a unix socket
/// (`http+unix://`), as INGInious's agent talks to Docker: the manager's CLI start-up
/// is never part of a measured phase. Connections are pooled and kept alive, so a
/// phase pays for the request, not for connecting.
package struct EngineAPI: Sendable {
    package let socket: String
    /// "/v1.41" (Docker 20.10) or "/v4.0.0/libpod".
    package let prefix: String
    let client: HTTPClient

    package init(socket: String, prefix: String, client: HTTPClient = .shared) {
        self.socket = socket
        self.prefix = prefix
        self.client = client
    }

    package struct Reply: Sendable {
        package var status: UInt
        package var body: [UInt8]
        package var text: String { String(decoding: body, as: UTF8.self) }
        package func json() -> [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
        }
    }

    /// One request; any 4xx/5xx is thrown as `BenchError.api` naming the call, unless in `accept`.
    @discardableResult
    package func call(
        _ method: HTTPMethod, _ path: String, json: [String: Any]? = nil, body: [UInt8]? = nil,
        contentType: String = "application/json", accept: Set<UInt> = [], timeout: Int64 = 120
    ) async throws(BenchError) -> Reply {
        let label = "\(method.rawValue) \(path)"
        guard let url = URL(httpURLWithSocketPath: socket, uri: prefix + path) else {
            throw .unreachable("\(socket): not a usable socket path")
        }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = method
        request.headers.add(name: "Host", value: "localhost")
        if let json {
            let data: Data
            do { data = try JSONSerialization.data(withJSONObject: json) } catch { throw .api(label, status: 0, body: "cannot encode request: \(error)") }
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: data))
        } else if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await client.execute(request, timeout: .seconds(timeout))
            let buffer = try await response.body.collect(upTo: 64 << 20)
            let reply = Reply(status: response.status.code, body: Array(buffer.readableBytesView))
            if reply.status >= 400 && !accept.contains(reply.status) {
                throw BenchError.api("\(label) on \(socket)", status: reply.status, body: reply.text)
            }
            return reply
        } catch let e as BenchError {
            throw e
        } catch {
            throw .unreachable("\(label) on \(socket): \(error)")
        }
    }

    /// Splits Docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, size BE32)
    /// into stdout and stderr. A body without frame headers (a TTY) is all stdout.
    package static func demultiplex(_ bytes: [UInt8]) -> (stdout: String, stderr: String) {
        var out: [UInt8] = [], err: [UInt8] = []
        var i = 0
        while i + 8 <= bytes.count {
            let stream = bytes[i]
            guard stream <= 2, bytes[i + 1] == 0, bytes[i + 2] == 0, bytes[i + 3] == 0 else {
                return (String(decoding: bytes, as: UTF8.self), "")
            }
            let size = Int(bytes[i + 4]) << 24 | Int(bytes[i + 5]) << 16 | Int(bytes[i + 6]) << 8 | Int(bytes[i + 7])
            let end = min(bytes.count, i + 8 + size)
            if stream == 2 { err += bytes[(i + 8)..<end] } else { out += bytes[(i + 8)..<end] }
            i = end
        }
        if i < bytes.count && i == 0 { return (String(decoding: bytes, as: UTF8.self), "") }
        return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
