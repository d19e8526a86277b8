/// What a program reads on its standard input. Not part of a `SandboxSpec`:
/// a grader runs one spec over and over with a new input each time.
public enum StandardInput: Sendable, Equatable {
    /// /dev/null.
    case none
    /// These bytes, then end of file.
    case bytes([UInt8])
    /// What the caller's open descriptor gives, until its end of file. A
    /// regular file is handed to the program as it is (it reads from the
    /// descriptor's offset on); a pipe, a socket or a terminal is relayed as
    /// its data comes, so a program can answer one line before the next is
    /// written. The descriptor stays the caller's: gradebox never closes it.
    case descriptor(Int32)
    /// The caller's open descriptor itself is the program's stdin: nothing is
    /// relayed, nor counted (`stdinBytes` is 0), as INGInious's run_student
    /// gives its caller's. For a pipe, socket,
    /// FIFO, regular file or character device; anything else is relayed as
    /// `descriptor` does. The descriptor stays the caller's.
    case handOver(Int32)
}
