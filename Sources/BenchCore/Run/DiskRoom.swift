import Foundation

/// Whether a pair's workload image still fits on the disks it goes to. The
/// default suite imports every dataset into every storage: on a small disk
/// (or the 16 GiB btrfs loop) the big images would fill it, and a full root
/// filesystem breaks the daemons and everything else on the host. So a pair
/// whose image would leave less than `reserveBytes` free is not prepared;
/// it is recorded as not run, naming the disk and what is free.
enum DiskRoom {
    static let reserveBytes = 4 << 30

    /// Filesystems a candidate's images land on: the data directory's, and the btrfs loop for btrfs storage.
    static func targets(_ c: Candidate) -> [String] {
        [ProvisionState.dataDirectory] + (c.storage == .btrfs ? [BtrfsLoop.mountPoint] : [])
    }

    /// Why `bytes` more would not fit, or nil when they do. Storage drivers copy
    /// an image once or twice on import (vfs: per layer), so twice the data is asked for.
    static func shortage(for bytes: Int, on paths: [String], free: (String) -> Int? = freeBytes) -> String? {
        guard bytes > 0 else { return nil }
        for path in paths {
            guard let available = free(path) else { continue }
            if available - 2 * bytes < reserveBytes {
                return "not run: \(gib(available)) free on \(path), and its image needs about \(gib(2 * bytes)) while \(gib(reserveBytes)) stay free"
            }
        }
        return nil
    }

    static func freeBytes(_ path: String) -> Int? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        return Int(s.f_bavail) * Int(s.f_frsize)
    }

    static func gib(_ bytes: Int) -> String {
        bytes < 1 << 30 ? String(format: "%.0f MiB", Double(bytes) / Double(1 << 20)) : String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }
}
