#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CSandbox
import SystemPackage
import Synchronization

/// One mount namespace per image whose mounts are the image, bound
/// read-only, and a read-only /dev for its boxes (`Planner.mountTemplateOps`):
/// the template a box's mount namespace is copied from (setns, then
/// unshare). Copying the caller's namespace instead copies every host mount
/// (38 here), which the box must then make private, pivot away from and
/// detach, each detach costing an RCU grace period; from a template there is
/// nothing to copy but the image and nothing to detach.
///
/// A template is made once (`cs_mount_template`, ~0.3 ms) and kept in the
/// state directory as a bind mount of its namespace file,
/// `templates/v2-<dev>-<ino>` of the image's root directory, so that later
/// processes (every `gradebox run` is one) open it instead of making it. The
/// bind pins that directory, so the pair names one directory for as long as
/// the template exists; a replaced image has a new directory and gets a new
/// template. Root only: a box in a user namespace cannot enter one (it
/// copies the caller's namespace as before). `gc` removes the templates of
/// images that are gone.
final class MountTemplates: Sendable {
    let directory: String
    /// Where a template's making binds the image before pivoting into it (its own namespace only).
    private let mountPoint: String
    /// Open templates of this process by image root; nil: it cannot be had here (do not try again).
    private let open = Mutex<[String: (device: UInt64, inode: UInt64, fd: FileDescriptor?, hasTmp: Bool)]>([:])
    private let sys: any Syscalls

    init(stateDirectory: String, mountPoint: String, sys: any Syscalls = Kernel.live) {
        directory = stateDirectory + "/templates"
        self.mountPoint = mountPoint
        self.sys = sys
    }

    /// The template of the image at `rootfs` (a descriptor this object
    /// keeps), made if there is none; nil when it cannot be had here (the box
    /// then copies the caller's mounts).
    /// An overlay root is built on the box's scratch, mounted on the image's
    /// /tmp: an image without one gets nil (`overlay`).
    func descriptor(for rootfs: String, overlay: Bool = false) -> FileDescriptor? {
        guard let st = sys.status(rootfs) else { return nil }
        let device = st.device, inode = st.inode
        return open.withLock { table -> FileDescriptor? in
            if let known = table[rootfs], known.device == device, known.inode == inode { return !overlay || known.hasTmp ? known.fd : nil }
            let fd = try? load(rootfs, device: device, inode: inode)
            let hasTmp = sys.status(rootfs + "/tmp").map { $0.mode & UInt32(S_IFMT) == UInt32(S_IFDIR) } ?? false
            // The descriptor of a replaced image's template may be in a launch on
            // another thread right now: it is left open (one per replacement) rather than raced.
            table[rootfs] = (device, inode, fd, hasTmp)
            return !overlay || hasTmp ? fd : nil
        }
    }

    /// The template kept in the state directory, or a new one made and kept there.
    private func load(_ rootfs: String, device: UInt64, inode: UInt64) throws(SandboxError) -> FileDescriptor {
        let path = "\(directory)/\(Self.key(device: device, inode: inode))"
        if let fd = openTemplate(path) { return fd }
        do throws(SandboxError) { try sys.mkdir(directory) } catch where cgroupErrno(error) == EEXIST {}
        // One maker at a time: two binds on one file would stack, and the lower one leak.
        let lock = try sys.open(directory + "/.lock", O_RDWR | O_CREAT, mode: 0o600)
        defer { sys.close(lock) }
        try sys.lock(lock, directory + "/.lock")
        if let fd = openTemplate(path) { return fd }

        let ops = Planner.mountTemplateOps(rootfs: rootfs, mountPoint: mountPoint)
        let fd: FileDescriptor
        switch sys.makeMountTemplate(ops, mountPoint: mountPoint) {
        case .success(let made): fd = made
        case .failure(let f):
            let what = f.step >= 0 && Int(f.step) < ops.count ? ops[Int(f.step)].description : StepNaming.name(f.step)
            throw .syscall("making the mount template of \(rootfs): \(what)", errno: f.errno)
        }
        // Kept for later processes; where the bind is refused this process still uses it.
        sys.unlink(path)
        if let file = try? sys.open(path, O_WRONLY | O_CREAT | O_EXCL, mode: 0o600) {
            sys.close(file)
            if (try? sys.bind("/proc/self/fd/\(fd.rawValue)", onto: path)) == nil { sys.unlink(path) }
        }
        return fd
    }

    /// A template file's namespace, when it is one: a file left without its
    /// bind (a crash between the two, or a `gc` right now) is an empty file.
    private func openTemplate(_ path: String) -> FileDescriptor? {
        guard let fd = try? sys.open(path, O_RDONLY) else { return nil }
        if sys.namespaceType(fd) == CloneFlags.newNS { return fd }
        sys.close(fd)
        return nil
    }

    /// Removes the kept templates whose image directory is not in `keep`
    /// (device, inode), or all of them; returns how many went.
    @discardableResult
    func remove(keeping keep: Set<String>) -> Int {
        var removed = 0
        for entry in (try? sys.entries(directory)) ?? [] where !entry.name.hasPrefix(".") && !keep.contains(entry.name) {
            let path = "\(directory)/\(entry.name)"
            // MNT_DETACH: a box being made from it right now keeps its own copy.
            while sys.detach(path) {}
            if sys.exists(path) {
                sys.unlink(path)
                removed += 1
            }
        }
        return removed
    }

    /// The name the template of the image directory at `rootfs` is kept under.
    static func key(_ rootfs: String, sys: any Syscalls = Kernel.live) -> String? {
        sys.status(rootfs).map { key(device: $0.device, inode: $0.inode) }
    }

    /// What a template holds is this binary's choice (`Planner.mountTemplateOps`):
    /// the version in the name keeps another gradebox's templates out of use (gc removes them).
    static let format = "v2"

    static func key(device: UInt64, inode: UInt64) -> String { "\(format)-\(device)-\(inode)" }
}
