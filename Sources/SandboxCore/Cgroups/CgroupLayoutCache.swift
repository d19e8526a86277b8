#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox

/// The host's cgroup layout, learned from /proc/self/mountinfo once and kept
/// in the state directory. Reading and parsing mountinfo (~40 mounts) took
/// ~0.22 ms of every `gradebox run` process here; the cached layout is read
/// and checked in a fraction of that.
///
/// The file is `cgroups.layout` (a `StateFile`): a key line naming the format
/// and the mount namespace it was learned in, then one line per hierarchy,
/// `v1<TAB>controller<TAB>mount point` or `unified<TAB>mount point`. It is
/// trusted only in the same mount namespace, and while every mount point it
/// names is still a cgroup file system (statfs); else the layout is learned again. A
/// hierarchy mounted later, in the same namespace, is not seen until the
/// state directory is cleared (a reboot clears /run): hosts set their cgroups
/// up at boot.
enum CgroupLayoutCache {
    static let fileName = "cgroups.layout"

    static func layout(in directory: String, detect: () throws(SandboxError) -> CgroupLayout) throws(SandboxError) -> CgroupLayout {
        guard let key = namespaceKey() else { return try detect() }
        let path = "\(directory)/\(fileName)"
        if let cached = read(path, key: key) { return cached }
        let layout = try detect()
        if let text = encode(layout, key: key) { write(text, to: path) }
        return layout
    }

    /// The format and this process's mount namespace (device and inode of /proc/self/ns/mnt).
    static func namespaceKey() -> String? {
        guard let st = Kernel.live.status("/proc/self/ns/mnt") else { return nil }
        return "gradebox-cgroups 1 \(st.device):\(st.inode)"
    }

    static func read(_ path: String, key: String) -> CgroupLayout? {
        guard let bytes = StateFile.readTrusted(path), let layout = decode(bytes, key: key) else { return nil }
        var mountPoints: [String] = []
        for mountPoint in layout.v1.values where !mountPoints.contains(mountPoint) { mountPoints.append(mountPoint) }
        if let unified = layout.unified { mountPoints.append(unified) }
        return mountPoints.allSatisfy(isCgroupFileSystem) ? layout : nil
    }

    static func isCgroupFileSystem(_ path: String) -> Bool {
        cs_is_cgroupfs(path) == 1
    }

    /// nil when a mount point cannot be written on one line.
    static func encode(_ layout: CgroupLayout, key: String) -> String? {
        var lines = [key]
        // Only the hierarchies gradebox uses: fewer to check on every read.
        for (controller, mountPoint) in layout.v1.sorted(by: { $0.key < $1.key })
        where CgroupLayout.v1Controllers.contains(controller) {
            lines.append("v1\t\(controller)\t\(mountPoint)")
        }
        if let unified = layout.unified { lines.append("unified\t\(unified)") }
        let mountPoints = Array(layout.v1.values) + (layout.unified.map { [$0] } ?? [])
        guard !mountPoints.contains(where: { $0.contains("\t") || $0.contains("\n") }) else { return nil }
        return lines.joined(separator: "\n") + "\n"
    }

    /// On bytes, as `MountInfo.parse`: splitting a String by Characters was
    /// 0.1 ms here, half of what reading mountinfo cost.
    static func decode(_ text: String, key: String) -> CgroupLayout? {
        decode(Array(text.utf8), key: key)
    }

    static func decode(_ bytes: [UInt8], key: String) -> CgroupLayout? {
        // Fields by index, not split into nested arrays: the first use of
        // each generic array type costs its metadata, in a process that runs once.
        func string(_ from: Int, _ to: Int) -> String { String(decoding: bytes[from..<to], as: UTF8.self) }
        var layout = CgroupLayout(v1: Dictionary(minimumCapacity: 8))
        var start = 0
        var first = true
        while start < bytes.count {
            guard let end = bytes[start...].firstIndex(of: 0x0A) else { return nil }
            defer { start = end + 1 }
            if first {
                guard string(start, end) == key else { return nil }
                first = false
                continue
            }
            guard let tab = bytes[start..<end].firstIndex(of: 0x09) else { return nil }
            let second = bytes[(tab + 1)..<end].firstIndex(of: 0x09)
            switch (string(start, tab), second) {
            case ("v1", let second?):
                guard !bytes[(second + 1)..<end].contains(0x09) else { return nil }
                layout.v1[string(tab + 1, second)] = string(second + 1, end)
            case ("unified", nil): layout.unified = string(tab + 1, end)
            default: return nil
            }
        }
        return first ? nil : layout
    }

    static func write(_ text: String, to path: String) {
        StateFile.replace(path, with: Array(text.utf8))
    }
}
