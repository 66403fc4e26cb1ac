import Testing
@testable import OrbiterTools

@Suite("Special address ranges")
struct SpecialAddressesTests {
    @Test("refused ranges, with the reason a person reads", arguments: [
        ("0.0.0.0", "a 'this network' address (it reaches this machine)"),
        ("0.1.2.3", "a 'this network' address (it reaches this machine)"),
        ("10.1.2.3", "a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address (some clouds' metadata services live there)"),
        ("100.100.100.200", "a shared (carrier-grade NAT) address (some clouds' metadata services live there)"),
        ("100.127.255.255", "a shared (carrier-grade NAT) address (some clouds' metadata services live there)"),
        ("127.0.0.1", "a loopback address"),
        ("127.255.255.254", "a loopback address"),
        ("169.254.169.254", "a link-local address (metadata services live there)"),
        ("172.16.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.0.0.1", "a protocol-assignment address"),
        ("192.168.1.1", "a private address"),
        ("198.18.0.1", "a benchmarking address"),
        ("198.19.255.255", "a benchmarking address"),
        ("224.0.0.1", "a multicast address"),
        ("239.255.255.250", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("255.255.255.255", "a reserved address"),
        ("::", "the unspecified address (it reaches this machine)"),
        ("::1", "a loopback address"),
        ("fc00::1", "a private (unique local) address (AWS's IPv6 metadata service lives there)"),
        ("fd00:ec2::254", "a private (unique local) address (AWS's IPv6 metadata service lives there)"),
        ("fe80::1", "a link-local address (metadata services live there)"),
        ("febf::1", "a link-local address (metadata services live there)"),
        ("ff02::1", "a multicast address"),
        ("::ffff:127.0.0.1", "an IPv4-mapped form of 127.0.0.1, a loopback address"),
        ("::ffff:169.254.169.254", "an IPv4-mapped form of 169.254.169.254, a link-local address (metadata services live there)"),
        ("64:ff9b::10.0.0.1", "a NAT64 form of 10.0.0.1, a private address"),
        ("64:ff9b::a9fe:a9fe", "a NAT64 form of 169.254.169.254, a link-local address (metadata services live there)"),
        ("2002:7f00:1::", "a 6to4 form of 127.0.0.1, a loopback address"),
        ("::127.0.0.1", "an IPv4-compatible address (deprecated)"),
        ("2001:db8::1", "a documentation address"),
    ])
    func refused(address: String, reason: String) throws {
        let parsed = try #require(IPAddress(address))
        #expect(SpecialAddresses.reason(for: parsed) == reason)
    }

    @Test("public addresses pass", arguments: [
        "1.1.1.1", "8.8.8.8", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
        "128.0.0.0", "169.253.255.255", "172.15.255.255", "172.32.0.0", "192.167.255.255", "192.169.0.0",
        "198.17.255.255", "198.20.0.0", "223.255.255.255", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e",
        "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1",
    ])
    func allowed(address: String) throws {
        let parsed = try #require(IPAddress(address))
        #expect(SpecialAddresses.reason(for: parsed) == nil)
    }

    @Test("only strict numeric spellings are IP literals; the odd ones are left to the resolver",
          arguments: ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "localhost", "1.2.3.4.5"])
    func notLiterals(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("IPv6 text is canonical and bracketed in hosts")
    func canonical() throws {
        let address = try #require(IPAddress("[0:0:0:0:0:0:0:1]"))
        #expect(address.description == "::1")
        #expect(address.hostText == "[::1]")
    }
}
