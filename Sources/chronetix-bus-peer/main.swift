// chronetix-bus-peer: a real bus client process for the cross-process bus tests.
//
//   chronetix-bus-peer SOCKET TOKEN NAME MODE [ARGS…]
//
// Modes:
//   subscribe PATTERN COUNT [drop|disconnect] [stall-ms] [quiet]
//                                              subscribe, print READY, then one line per event until COUNT
//                                              messages: `MSG <subscription> <topic> <payload>` and
//                                              `DROPPED <subscription> <total>`; with stall-ms, sleep that long
//                                              before reading anything (a slow subscriber); stops when
//                                              messages + dropped reach COUNT: `DONE received=N dropped=M`;
//                                              quiet: check the order of the payloads' leading indices
//                                              instead of printing them, print `AT n` every 100 messages,
//                                              and add `ordered=yes|no` to DONE
//   publish TOPIC COUNT                        publish COUNT messages whose payloads are "0"…"COUNT-1", DONE
//   serve PATTERN                              answer every request with "echo:<payload>" until the bus goes
//   request TOPIC PAYLOAD TIMEOUT-MS           print `REPLY <payload>` or `ERROR <code> <message>`
//   attach                                     print `ATTACHED <connection>` (or `ERROR …`) and wait for stdin EOF
//   mute                                       attach, print ATTACHED, then never call the bus again
//   descriptors                                wait for descriptors and print `FD <label> <contents of each>`
//
// Every failure prints `ERROR <code> <message>` and exits 1. The peer dies with its parent (SIGKILL).
import ChronetixCore
import ChronetixSystem
import Glibc
import IpcEventBus

func say(_ line: String) {
    print(line)
    fflush(nil)  // all streams: `stdout` is a global Swift 6 will not touch
}

func fail(_ error: any Error) -> Never {
    if let error = error as? BusError {
        say("ERROR \(error.code) \(error.message)")
    } else {
        say("ERROR other \(error)")
    }
    exit(1)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 4 else {
    say("ERROR usage chronetix-bus-peer SOCKET TOKEN NAME MODE [ARGS…]")
    exit(2)
}
try? Processes.setParentDeathSignal(.kill)  // best effort: tests also kill their peers
let (socketPath, token, name, mode) = (arguments[0], arguments[1], arguments[2], arguments[3])
let rest = Array(arguments.dropFirst(4))

func connect(role: String = "tool") -> BusClient {
    do {
        return try BusClient(configuration: .init(socketPath: socketPath, role: role, name: name, token: token))
    } catch {
        fail(error)
    }
}

func waitForStandardInputToClose() {
    var byte: UInt8 = 0
    while read(0, &byte, 1) > 0 {}
}

do {
    switch mode {
    case "subscribe":
        let client = connect()
        let count = Int(rest[1])!
        let overflow: BusOverflowPolicy = rest.count > 2 && rest[2] == "drop" ? .drop : .disconnect
        let stall = rest.count > 3 ? UInt32(rest[3])! : 0
        let isQuiet = rest.count > 4 && rest[4] == "quiet"
        var previous = -1
        var isOrdered = true
        _ = try client.subscribe(rest[0], overflow: overflow)
        say("READY")
        if stall > 0 { usleep(stall * 1000) }
        var received = 0
        var dropped: UInt64 = 0
        while received + Int(dropped) < count {
            guard let event = try client.receive(timeout: .seconds(30)) else {
                say("ERROR timeout after \(received) messages")
                exit(1)
            }
            switch event {
            case .message(let delivery):
                received += 1
                let text = String(decoding: delivery.envelope.payload, as: UTF8.self)
                if isQuiet {
                    // Payloads start with their index: check the order here rather than print every line.
                    let index = Int(text.prefix { $0 != " " }) ?? -1
                    if index <= previous { isOrdered = false }
                    previous = index
                    if received % 100 == 0 { say("AT \(received)") }
                } else {
                    say("MSG \(delivery.subscription) \(delivery.envelope.topic) \(text)")
                }
            case .dropped(let subscription, let total):
                dropped = total
                say("DROPPED \(subscription) \(total)")
            case .request, .descriptors:
                break
            }
        }
        say("DONE received=\(received) dropped=\(dropped)" + (isQuiet ? " ordered=\(isOrdered ? "yes" : "no")" : ""))
        client.close()
    case "publish":
        let client = connect()
        let count = Int(rest[1])!
        for index in 0..<count {
            try client.publish(Envelope(id: UInt64(index), topic: rest[0], payload: Array("\(index)".utf8)), flush: false)
        }
        try client.flush()
        say("DONE")
        client.close()
    case "serve":
        let client = connect()
        _ = try client.serve(rest[0])
        say("READY")
        while true {
            guard let event = try client.receive(timeout: nil) else { continue }
            if case .request(let request) = event {
                let text = "echo:" + String(decoding: request.envelope.payload, as: UTF8.self)
                try client.reply(to: request, with: Envelope(id: 0, topic: request.envelope.topic, payload: Array(text.utf8)))
            }
        }
    case "request":
        let client = connect()
        let reply = try client.request(
            Envelope(id: 1, topic: rest[0], payload: Array(rest[1].utf8)),
            timeout: .milliseconds(Int(rest[2])!)
        )
        say("REPLY \(String(decoding: reply.payload, as: UTF8.self))")
        client.close()
    case "attach":
        let client = connect(role: rest.first ?? "tool")
        say("ATTACHED \(client.welcome.connectionID)")
        waitForStandardInputToClose()
        client.close()
    case "mute":
        let client = connect()
        say("ATTACHED \(client.welcome.connectionID)")
        waitForStandardInputToClose()
        withExtendedLifetime(client) {}
    case "descriptors":
        let client = connect()
        say("ATTACHED \(client.welcome.connectionID)")
        while true {
            guard let event = try client.receive(timeout: .seconds(30)) else { fail(BusError(.timedOut, "no descriptors")) }
            guard case .descriptors(let descriptors) = event else { continue }
            var contents: [String] = []
            for index in 0..<descriptors.count {
                let descriptor = descriptors.take(index)
                var buffer = [UInt8](repeating: 0, count: 256)
                let count = read(descriptor.rawValue, &buffer, buffer.count)
                contents.append(count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : "<empty>")
            }
            say("FD \(descriptors.label) \(contents.joined(separator: " "))")
            break
        }
        client.close()
    default:
        say("ERROR usage unknown mode \(mode)")
        exit(2)
    }
} catch {
    fail(error)
}
