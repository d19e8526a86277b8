import Foundation

/// Who manages the container's life cycle. `lxc` stands for the thesis's LXD:
/// LXD is not packaged in Debian 12, LXC's own tools drive the same runtime.
public enum Manager: String, Codable, Sendable, CaseIterable, Comparable {
    case docker, lxc, podman
    /// An OCI runtime driven directly through a bundle (crun, runc).
    case oci
    case bwrap
    case containerd
    case gradebox

    public static func < (a: Self, b: Self) -> Bool { a.order < b.order }
    private var order: Int { Self.allCases.firstIndex(of: self)! }
    /// As the thesis's table names it.
    public var thesisName: String {
        switch self {
        case .docker: "Docker"
        case .lxc: "LXD"
        case .podman: "Podman"
        default: rawValue
        }
    }
}

public enum Runtime: String, Codable, Sendable, CaseIterable {
    case runc, crun, lxc
    /// The thesis's "kata-runtime": Kata Containers with QEMU.
    case kataQemu = "kata-qemu"
    case kataFC = "kata-fc"
    case bwrap
    case gradebox
}

public enum Storage: String, Codable, Sendable, CaseIterable {
    case aufs, btrfs, devicemapper, overlay2, overlay, vfs, zfs, dir, lvm
    case fuseOverlayfs = "fuse-overlayfs"
    /// containerd's overlay snapshotter.
    case overlayfs
    /// The image directory used in place (bind-mounted read-only, writes in tmpfs):
    /// direct OCI runtimes, bwrap, gradebox.
    case rootfs
    /// gradebox's overlay rootfs mode (image as lower layer, tmpfs upper).
    case tmpfsOverlay = "tmpfs-overlay"

    /// As the thesis's table names it.
    public var thesisName: String { self == .dir ? "directory" : rawValue }
}

/// Base image. No registry is reachable, so both are built locally.
public enum BaseImage: String, Codable, Sendable, CaseIterable {
    /// busybox-static rootfs, the stand-in for Alpine.
    case minimal
    /// debootstrap minbase rootfs, the stand-in for CentOS.
    case full

    public var thesisName: String { self == .minimal ? "Alpine" : "Centos" }
    /// The image name every manager knows it by after `bench setup`.
    public var imageName: String { "gradebox-\(rawValue)" }
}

public enum CgroupVersion: String, Codable, Sendable, CaseIterable {
    case v1, v2
    /// No cgroup limits at all (rootless on a cgroup v1 host).
    case none
}

/// One candidate configuration: manager × runtime × storage × image × cgroup × rootless.
public struct Candidate: Codable, Sendable, Hashable, CustomStringConvertible {
    /// The thesis's number (1...72) for the thesis's candidates, nil for new ones.
    public var number: Int?
    public var manager: Manager
    public var runtime: Runtime
    public var storage: Storage
    public var image: BaseImage
    public var cgroup: CgroupVersion
    public var rootless: Bool
    /// gradebox only: boxes taken from a warm pool.
    public var pool: Bool
    /// gradebox only: each run is a `gradebox run` process, as a shell user or
    /// another program calls it, so the CLI's own start-up is counted.
    public var viaCLI: Bool
    /// Whether the thesis's limits (1 CPU, 1 GiB) are asked of the manager: not
    /// without cgroups, and not rootless, which on a cgroup v1 host has no
    /// delegated group to write them to. One rule for every driver and experiment.
    public var enforcesLimits: Bool { cgroup != .none && !rootless }
    /// The name on the command line: manager/runtime/storage/image[/rootless],
    /// or the tool's own name for the direct ones (crun, runc, bwrap, gradebox, gradebox-pool).
    public var name: String

    public init(
        number: Int? = nil, manager: Manager, runtime: Runtime, storage: Storage, image: BaseImage,
        cgroup: CgroupVersion, rootless: Bool = false, pool: Bool = false, viaCLI: Bool = false, name: String? = nil
    ) {
        self.viaCLI = viaCLI
        self.number = number
        self.manager = manager
        self.runtime = runtime
        self.storage = storage
        self.image = image
        self.cgroup = cgroup
        self.rootless = rootless
        self.pool = pool
        self.name = name ?? Self.canonicalName(manager: manager, runtime: runtime, storage: storage, image: image, rootless: rootless)
    }

    public static func canonicalName(manager: Manager, runtime: Runtime, storage: Storage, image: BaseImage, rootless: Bool) -> String {
        "\(manager.rawValue)/\(runtime.rawValue)/\(storage.rawValue)/\(image.rawValue)" + (rootless ? "/rootless" : "")
    }

    public var description: String { number.map { "#\($0) \(name)" } ?? name }

    /// The candidate the thesis compares everything to: INGInious's configuration.
    public static let baselineName = "docker/runc/overlay2/minimal"
}
