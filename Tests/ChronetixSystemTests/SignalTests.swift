import ChronetixSystem
import Glibc
import Testing

/// `Signal`'s numbers and names, and the text of a child killed by one.
struct SignalTests {
    @Test func membersAreTheKernelsNumbers() {
        #expect(Signal.interrupt.rawValue == SIGINT)
        #expect(Signal.terminate.rawValue == SIGTERM)
        #expect(Signal.hangup.rawValue == SIGHUP)
        #expect(Signal.kill.rawValue == SIGKILL)
        #expect(Signal.pipe.rawValue == SIGPIPE)
        #expect(Signal.stop.rawValue == SIGSTOP)
        #expect(Signal.continue.rawValue == SIGCONT)
    }

    @Test func namesForMessagesAndTheNumberAsDescription() {
        #expect(Signal.kill.name == "SIGKILL")
        #expect(Signal.hangup.name == "SIGHUP")
        #expect(Signal(rawValue: 64).name == nil)
        #expect("\(Signal.terminate)" == "15")
    }

    @Test func terminationTextIsUnchanged() {
        #expect(ChildProcess.Termination.signaled(.kill).description == "killed by signal 9 (SIGKILL)")
        #expect(ChildProcess.Termination.signaled(Signal(rawValue: 64)).description == "killed by signal 64")
        #expect(ChildProcess.Termination.exited(3).description == "exit status 3")
    }

    @Test func openOptionsAreTheOpenFlags() {
        let options: FileDescriptor.OpenOptions = [.writeOnly, .create, .truncate]
        #expect(options.rawValue == O_WRONLY | O_CREAT | O_TRUNC)
        #expect(FileDescriptor.OpenOptions.readOnly.rawValue == 0)
    }
}
