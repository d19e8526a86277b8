/// The fields of /proc/self/mountinfo that gradebox reads (proc(5)):
/// `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`.
package struct MountInfoEntry: Equatable, Sendable {
    /// As the kernel writes it: space, tab, newline and backslash escaped as `\ooo`.
    package var mountPoint: String
    package var fsType: String
    package var superOptions: String
}

package enum MountInfo {
    /// Parsed on bytes: `gradebox run` reads this table once per process, and
    /// String splitting by String separators costs more than the box's mounts.
    package static func parse(_ text: String) -> [MountInfoEntry] {
        var entries: [MountInfoEntry] = []
        let bytes = Array(text.utf8)
        var fields: [Range<Int>] = []
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            fields.removeAll(keepingCapacity: true)
            var i = lineStart
            while i < lineEnd {
                while i < lineEnd && bytes[i] == 0x20 { i += 1 }
                let start = i
                while i < lineEnd && bytes[i] != 0x20 { i += 1 }
                if i > start { fields.append(start..<i) }
            }
            lineStart = lineEnd + 1
            // The optional fields end at a lone "-", after at least six fields.
            guard let dash = fields.indices.first(where: { $0 >= 6 && fields[$0].count == 1 && bytes[fields[$0].lowerBound] == 0x2D }),
                  dash + 3 < fields.count else { continue }
            func text(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }
            entries.append(MountInfoEntry(mountPoint: text(fields[4]), fsType: text(fields[dash + 1]),
                                          superOptions: text(fields[dash + 3])))
        }
        return entries
    }
}
