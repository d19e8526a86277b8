/// One member of a tar archive, with GNU long names and pax overrides already applied.
package struct TarEntry: Sendable, Equatable {
    package enum Kind: Sendable, Equatable {
        case regular, directory, symlink, hardlink, characterDevice, blockDevice, fifo
        /// A type flag we do not extract (GNU sparse 'S', multi-volume 'M', ...).
        case unsupported(UInt8)
    }
    /// The name as the archive spells it (not yet checked or normalized).
    package var path: String
    package var kind: Kind
    package var linkTarget: String
    package var mode: UInt32
    package var uid: UInt32
    package var gid: UInt32
    package var mtime: Int64
    /// Bytes of data that follow the header.
    package var size: Int64

    package init(path: String, kind: Kind, linkTarget: String = "", mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0, size: Int64 = 0) {
        self.path = path
        self.kind = kind
        self.linkTarget = linkTarget
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.mtime = mtime
        self.size = size
    }
}

/// What the parser reports, in archive order: `begin`, zero or more `data`
/// chunks (pointing into the caller's buffer, valid during the call only), `end`.
package enum TarEvent {
    case begin(TarEntry)
    case data(UnsafeRawBufferPointer)
    case end
}

/// A push parser for ustar, GNU ('L', 'K', base-256 numbers) and pax ('x', 'g')
/// archives. Bytes arrive in chunks of any size, so it reads a plain file,
/// `gzip -dc` output or a pipe alike without holding more than one header.
///
/// Hand-written: no maintained Swift tar package is among the ones this
/// project may use, and the extractor must see every entry before anything
/// is created, which a library extracting on its own would not allow.
package struct TarParser {
    private enum State {
        case header
        /// Data of an entry we report (`remaining` bytes, then `padding`).
        case data(remaining: Int64, padding: Int)
        /// Data of a 'L', 'K', 'x' or 'g' member, collected here.
        case meta(type: UInt8, remaining: Int64, padding: Int)
        case skipPadding(Int)
        case finished
    }

    private var state: State = .header
    private var headerBuffer: [UInt8] = []
    private var metaBuffer: [UInt8] = []
    private var zeroBlocks = 0
    private var longName: String?
    private var longLink: String?
    private var paxLocal: [String: String] = [:]
    private var paxGlobal: [String: String] = [:]
    /// Offset of the current header in the archive, for error messages.
    private var offset: Int64 = 0
    private var headerOffset: Int64 = 0
    private var currentPath = ""

    /// A 'L'/'K'/'x'/'g' member larger than this is refused rather than held in memory.
    package static let maxMetaSize: Int64 = 16 << 20

    package init() {}

    /// Parses `bytes`, calling `sink` for each event.
    package mutating func feed(_ bytes: UnsafeRawBufferPointer, _ sink: (TarEvent) throws(SandboxError) -> Void) throws(SandboxError) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .finished:
                // Bytes after the end marker are block padding (tar writes 10 KiB records).
                offset += Int64(bytes.count - index)
                return
            case .header:
                let take = min(512 - headerBuffer.count, bytes.count - index)
                headerBuffer.append(contentsOf: bytes[index..<(index + take)])
                index += take
                offset += Int64(take)
                if headerBuffer.count == 512 {
                    let header = headerBuffer
                    headerBuffer.removeAll(keepingCapacity: true)
                    headerOffset = offset - 512
                    try processHeader(header, sink)
                }
            case .data(let remaining, let padding):
                let take = Int(min(remaining, Int64(bytes.count - index)))
                if take > 0 {
                    try sink(.data(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)])))
                }
                index += take
                offset += Int64(take)
                if remaining - Int64(take) == 0 {
                    try sink(.end)
                    state = padding > 0 ? .skipPadding(padding) : .header
                } else {
                    state = .data(remaining: remaining - Int64(take), padding: padding)
                }
            case .meta(let type, let remaining, let padding):
                let take = Int(min(remaining, Int64(bytes.count - index)))
                metaBuffer.append(contentsOf: bytes[index..<(index + take)])
                index += take
                offset += Int64(take)
                if remaining - Int64(take) == 0 {
                    try finishMeta(type)
                    state = padding > 0 ? .skipPadding(padding) : .header
                } else {
                    state = .meta(type: type, remaining: remaining - Int64(take), padding: padding)
                }
            case .skipPadding(let n):
                let take = min(n, bytes.count - index)
                index += take
                offset += Int64(take)
                state = n - take == 0 ? .header : .skipPadding(n - take)
            }
        }
    }

    /// Called at end of input: fails if the archive stopped inside a member.
    /// A missing end marker is accepted, as GNU tar does.
    package func finish() throws(SandboxError) {
        switch state {
        case .header where headerBuffer.isEmpty, .finished, .skipPadding:
            return
        default:
            let what = currentPath.isEmpty ? "" : " in entry '\(currentPath)'"
            throw .invalidRequest("tar: archive is truncated at byte \(offset)\(what)")
        }
    }

    private mutating func processHeader(_ h: [UInt8], _ sink: (TarEvent) throws(SandboxError) -> Void) throws(SandboxError) {
        if h.allSatisfy({ $0 == 0 }) {
            zeroBlocks += 1
            if zeroBlocks == 2 { state = .finished }
            return
        }
        zeroBlocks = 0
        try verifyChecksum(h)
        let type = h[156]
        var size = try Self.number(h, 124, 12, field: "size", at: headerOffset)
        switch type {
        case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
            guard size <= Self.maxMetaSize else {
                throw .invalidRequest("tar: metadata member of \(size) bytes at byte \(headerOffset) is too large")
            }
            metaBuffer.removeAll(keepingCapacity: true)
            state = size == 0 ? .header : .meta(type: type, remaining: size, padding: Self.padding(size))
            if size == 0 { try finishMeta(type) }
            return
        default:
            break
        }

        var entry = TarEntry(path: "", kind: .regular)
        let magic = Array(h[257..<263])
        let isPosixUstar = magic == Array("ustar\0".utf8)
        var name = Self.string(h, 0, 100)
        if isPosixUstar {
            let prefix = Self.string(h, 345, 155)
            if !prefix.isEmpty { name = prefix + "/" + name }
        }
        entry.linkTarget = Self.string(h, 157, 100)
        entry.mode = UInt32(truncatingIfNeeded: try Self.number(h, 100, 8, field: "mode", at: headerOffset))
        entry.uid = UInt32(truncatingIfNeeded: try Self.number(h, 108, 8, field: "uid", at: headerOffset))
        entry.gid = UInt32(truncatingIfNeeded: try Self.number(h, 116, 8, field: "gid", at: headerOffset))
        entry.mtime = try Self.number(h, 136, 12, field: "mtime", at: headerOffset)

        for pax in [paxGlobal, paxLocal] {
            if let v = pax["size"], let n = Int64(v) { size = n }
            if let v = pax["uid"], let n = UInt32(v) { entry.uid = n }
            if let v = pax["gid"], let n = UInt32(v) { entry.gid = n }
            if let v = pax["mtime"], let n = Int64(v.split(separator: ".").first ?? "") { entry.mtime = n }
        }
        // A global header's path would rename every later member; no writer emits one, so it is ignored.
        if let long = longName { name = long }
        if let long = longLink { entry.linkTarget = long }
        if let v = paxLocal["path"] { name = v }
        if let v = paxLocal["linkpath"] { entry.linkTarget = v }
        longName = nil
        longLink = nil
        paxLocal = [:]

        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
            // Old tars mark directories only by a trailing slash.
            entry.kind = (type == 0 && name.hasSuffix("/")) ? .directory : .regular
        case UInt8(ascii: "1"): entry.kind = .hardlink
        case UInt8(ascii: "2"): entry.kind = .symlink
        case UInt8(ascii: "3"): entry.kind = .characterDevice
        case UInt8(ascii: "4"): entry.kind = .blockDevice
        case UInt8(ascii: "5"): entry.kind = .directory
        case UInt8(ascii: "6"): entry.kind = .fifo
        default: entry.kind = .unsupported(type)
        }
        // Only regular files carry data; a size on a link or directory header describes nothing that follows.
        // Unsupported members keep their size so the stream stays in step if the sink skips them.
        switch entry.kind {
        case .regular, .unsupported: entry.size = size
        default: entry.size = 0
        }
        guard entry.size >= 0 else {
            throw .invalidRequest("tar: entry '\(name)' has a negative size")
        }
        entry.path = name
        currentPath = name
        try sink(.begin(entry))
        if entry.size == 0 {
            try sink(.end)
            state = .header
        } else {
            state = .data(remaining: entry.size, padding: Self.padding(entry.size))
        }
    }

    private mutating func finishMeta(_ type: UInt8) throws(SandboxError) {
        let bytes = metaBuffer
        metaBuffer.removeAll(keepingCapacity: true)
        switch type {
        case UInt8(ascii: "L"): longName = Self.cString(bytes)
        case UInt8(ascii: "K"): longLink = Self.cString(bytes)
        case UInt8(ascii: "x"): paxLocal.merge(try Self.paxRecords(bytes, at: headerOffset)) { $1 }
        default: paxGlobal.merge(try Self.paxRecords(bytes, at: headerOffset)) { $1 }
        }
    }

    private func verifyChecksum(_ h: [UInt8]) throws(SandboxError) {
        let stored = try Self.number(h, 148, 8, field: "checksum", at: headerOffset)
        var sum: Int64 = 0
        for i in 0..<512 { sum += Int64((148..<156).contains(i) ? 32 : h[i]) }
        guard stored == sum else {
            throw .invalidRequest("tar: bad header checksum at byte \(headerOffset) (not a tar archive, or corrupt)")
        }
    }

    /// Records of the form "LEN key=value\n", LEN counting the whole record.
    package static func paxRecords(_ bytes: [UInt8], at offset: Int64 = 0) throws(SandboxError) -> [String: String] {
        var result: [String: String] = [:]
        var i = 0
        while i < bytes.count {
            guard let space = bytes[i...].firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: bytes[i..<space], as: UTF8.self)),
                length > 0, i + length <= bytes.count
            else {
                throw .invalidRequest("tar: malformed pax header at byte \(offset)")
            }
            let record = bytes[(space + 1)..<(i + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[record.startIndex..<eq], as: UTF8.self)
                result[key] = String(decoding: record[(eq + 1)...], as: UTF8.self)
            }
            i += length
        }
        return result
    }

    /// An octal field, or a GNU base-256 one (high bit of the first byte set).
    package static func number(_ h: [UInt8], _ start: Int, _ length: Int, field: String, at offset: Int64 = 0) throws(SandboxError) -> Int64 {
        let bytes = h[start..<(start + length)]
        if let first = bytes.first, first & 0x80 != 0 {
            guard first == 0x80 else {
                throw .invalidRequest("tar: negative or oversized \(field) field at byte \(offset)")
            }
            var value: Int64 = 0
            for b in bytes.dropFirst() {
                guard value <= (Int64.max >> 8) else {
                    throw .invalidRequest("tar: \(field) field overflows at byte \(offset)")
                }
                value = value << 8 | Int64(b)
            }
            return value
        }
        var value: Int64 = 0
        var seenDigit = false
        for b in bytes {
            if b == 0 || (b == 32 && seenDigit) { break }
            if b == 32 { continue }
            guard b >= 48 && b <= 55 else {
                throw .invalidRequest("tar: bad \(field) field at byte \(offset) (not a tar archive, or corrupt)")
            }
            seenDigit = true
            value = value * 8 + Int64(b - 48)
        }
        return value
    }

    static func string(_ h: [UInt8], _ start: Int, _ length: Int) -> String {
        cString(Array(h[start..<(start + length)]))
    }

    static func cString(_ bytes: [UInt8]) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.count
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    static func padding(_ size: Int64) -> Int {
        Int((512 - size % 512) % 512)
    }
}
