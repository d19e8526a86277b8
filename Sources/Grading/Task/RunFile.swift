/// Where a grading box finds what to run, in INGInious's order
/// (`_detect_run_file` of its container): the task's `run_cmd`; else, in
/// /task, then /course/common, then /course, a file `run`, or `run.py`,
/// `run.py3`, `run.sh` given to their interpreter.
public enum RunFile {
    /// Extensions and the command that runs such a file (INGInious's `run_types`, in its order).
    public static let types: [(ext: String, command: [String])] = [
        ("py", ["/bin/inginious-ipython"]),
        ("py3", ["/bin/inginious-ipython"]),
        ("sh", ["/bin/bash"]),
    ]

    public static let directories = ["/task", "/course/common", "/course"]

    /// The argv to run, given which paths (in the box) exist; nil when there is none.
    public static func command(runCommand: String?, exists: (String) -> Bool) -> [String]? {
        if let runCommand, !runCommand.isEmpty {
            return runCommand.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        for dir in directories {
            if exists(dir + "/run") { return [dir + "/run"] }
            for (ext, command) in types where exists("\(dir)/run.\(ext)") {
                return command + ["\(dir)/run.\(ext)"]
            }
        }
        return nil
    }
}
