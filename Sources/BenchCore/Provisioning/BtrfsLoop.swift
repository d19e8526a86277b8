import Foundation
import SandboxCore

/// A btrfs filesystem in a loop-mounted image file: the storage for the btrfs
/// candidates (Docker's data root, LXC's lxcpath) on a host whose root is ext4.
public enum BtrfsLoop {
    public static let imageFile = ProvisionState.dataDirectory + "/btrfs.img"
    public static let mountPoint = ProvisionState.dataDirectory + "/btrfs"
    /// Sparse: only what the images and containers use takes disk space.
    public static let sizeBytes: UInt64 = 16 << 30

    /// Whether `path` is a mount point of a btrfs filesystem, from /proc/self/mountinfo.
    public static func isMounted(_ path: String = mountPoint, mountinfo: String? = nil) -> Bool {
        let text = mountinfo ?? Kernel.readText("/proc/self/mountinfo") ?? ""
        return MountInfo.parse(text).contains { $0.mountPoint == path && $0.fsType == "btrfs" }
    }
}
