import Foundation

/// A btrfs filesystem in a loop-mounted image file: the storage for the btrfs
/// candidates (Docker's data root, LXC's lxcpath) on a host whose root is ext4.
public enum BtrfsLoop {
    public static let imageFile = ProvisionState.dataDirectory + "/btrfs.img"
    public static let mountPoint = ProvisionState.dataDirectory + "/btrfs"
    /// Sparse: only what the images and containers use takes disk space.
    public static let sizeBytes: UInt64 = 16 << 30

    /// Whether `path` is a mount point of a btrfs filesystem, from /proc/self/mountinfo.
    public static func isMounted(_ path: String = mountPoint, mountinfo: String? = nil) -> Bool {
        let text = mountinfo ?? (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").contains { line in
            let halves = line.components(separatedBy: " - ")
            let left = halves[0].split(separator: " ")
            return halves.count == 2 && left.count >= 5 && left[4] == path && halves[1].hasPrefix("btrfs ")
        }
    }
}
