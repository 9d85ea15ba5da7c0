import Testing

@testable import OOMKit
@testable import OOMKitCore

/// Cgroup names (and command lines, and arguments) are bytes: LosslessText keeps every byte string
/// whole, and no two byte strings share a text.
struct LosslessTextTests {
    @Test func validUTF8IsItsOwnText() {
        for name in ["system.slice", "user@1000.service", "schön", "日本", "emoji-🙂", "a\\x2db", ""] {
            #expect(LosslessText.decode(Array(name.utf8)) == name)
            #expect(LosslessText.encode(name) == Array(name.utf8))
        }
    }

    @Test func bytesThatAreNotUTF8SurviveARoundTrip() {
        let samples: [[UInt8]] = [
            [0x62, 0x61, 0x64, 0xFF, 0xFE],  // bad\xff\xfe
            [0x80],  // a lone continuation byte
            [0xC3],  // a truncated two-byte sequence
            [0xE2, 0x82],  // a truncated three-byte sequence
            [0xED, 0xA0, 0x80],  // an encoded surrogate
            [0xC0, 0xAF],  // an overlong '/'
            [0xF5, 0x80, 0x80, 0x80],  // beyond U+10FFFF
            [0xEE, 0xBE, 0x80],  // U+EF80 itself: valid UTF-8 in the escape range
            Array("x\u{EFFF}y".utf8),
        ]
        for bytes in samples {
            let text = LosslessText.decode(bytes)
            #expect(LosslessText.encode(text) == bytes, "\(bytes)")
        }
    }

    @Test func everyByteStringRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &generator)
            // Bytes from the ranges that matter most: ASCII, continuation bytes, lead bytes, EE BE/BF.
            let alphabet: [UInt8] = [
                0x61, 0x2F, 0x80, 0xBE, 0xBF, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xEE, 0xF0, 0x9F, 0xFF,
            ]
            let bytes = (0..<length).map { _ in
                Bool.random(using: &generator)
                    ? alphabet.randomElement(using: &generator) ?? 0x61 : UInt8.random(in: 1...255, using: &generator)
            }
            #expect(LosslessText.encode(LosslessText.decode(bytes)) == bytes, "\(bytes)")
        }
    }

    @Test func distinctBytesNeverShareAText() {
        // The raw byte 0x80 and the valid character U+EF80 must stay two names.
        let raw = LosslessText.decode([0x61, 0x80])
        let character = LosslessText.decode(Array("a\u{EF80}".utf8))
        #expect(raw != character)
        #expect(LosslessText.encode(raw) == [0x61, 0x80])
        #expect(LosslessText.encode(character) == Array("a\u{EF80}".utf8))
    }

    @Test func aCStringGetsTheOriginalBytes() {
        let text = LosslessText.decode([0x62, 0xFF, 0x00][..<2])
        let bytes = LosslessText.withCString(text) { pointer in
            (0..<3).map { UInt8(bitPattern: pointer[$0]) }
        }
        #expect(bytes == [0x62, 0xFF, 0x00])
        #expect(LosslessText.decode(cString: "plain") == "plain")
    }

    @Test func aCgroupPathKeepsTheBytes() throws {
        let name = LosslessText.decode([0x62, 0x61, 0x64, 0xFF])
        let path = try CgroupPath("/parent/" + name)
        #expect(path.components == ["parent", name])
        #expect(LosslessText.encode(path.description) == Array("/parent/bad".utf8) + [0xFF])
    }

    @Test func peopleSeeTheBytesAsAShellWritesThem() {
        let name = LosslessText.decode([0x62, 0xFF, 0x0A, 0xFE])
        #expect(name.visibleControlCharacters == "b\\xff\\n\\xfe")
        #expect(name.visibleRawBytes == "b\\xff\n\\xfe")
        #expect("schön".visibleRawBytes == "schön")
    }
}
