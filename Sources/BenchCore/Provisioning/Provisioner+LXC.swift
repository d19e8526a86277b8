import Foundation

extension Provisioner {
    func lxc(_ storage: Storage) async throws(BenchError) {
        let driver = LXCDriver(candidate: Candidate(manager: .lxc, runtime: .lxc, storage: storage, image: .minimal, cgroup: .v1))
        do { try FileManager.default.createDirectory(atPath: driver.lxcpath, withIntermediateDirectories: true) } catch {
            throw .file(driver.lxcpath, reason: "\(error)")
        }
        for image in BaseImage.allCases {
            guard let rootfs = try? Self.rootfsOf(image) else { continue }
            if FileManager.default.fileExists(atPath: driver.lxcpath + "/" + LXCDriver.baseName(image.imageName) + "/config") { continue }
            try await step("lxc base container \(image.imageName) in \(driver.lxcpath)") { () async throws(BenchError) in
                try await driver.importImage(image.imageName, rootfs: rootfs)
            }
        }
        try record("lxc:\(storage.rawValue)", .init(detail: ["lxcpath": driver.lxcpath]))
    }
}
