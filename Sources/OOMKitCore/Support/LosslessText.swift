import Glibc

/// Text from the kernel that is bytes, not UTF-8, kept as a Swift `String` without losing a byte.
///
/// Cgroup names are the case that matters: the kernel accepts any byte in a name but `/` and NUL (and
/// cgroupfs refuses newline), so a name need not be valid UTF-8, and a name decoded lossily opens
/// nothing, or another cgroup. Command lines (/proc/PID/cmdline) and oomctl's own arguments are bytes
/// too. One documented escape (the one MirBSD's OPTU-8 uses):
///
/// - a byte that is not part of valid UTF-8 is held as the scalar U+EF00 + byte (U+EF80…U+EFFF);
/// - the bytes of a valid character that is itself in U+EF80…U+EFFF are escaped the same way, one
///   scalar per byte, so that no name can pass for another;
/// - everything else is held as the character it encodes.
///
/// ``decode(_:)`` and ``encode(_:)`` are inverses for every byte string, so what is read from a
/// directory, from /proc/PID/cgroup or from the command line opens the same cgroup again, and a hook's
/// environment gets the original bytes. JSON output carries the escaped scalars (valid Unicode,
/// lossless for a reader that knows this rule); human output shows them as `\xNN`
/// (`visibleControlCharacters`).
public enum LosslessText {
    /// The first scalar of the escape range; an escaped byte `b` (0x80…0xFF) is U+EF00 + b.
    static let escapeBase: UInt32 = 0xEF00
    /// The escape range, U+EF80…U+EFFF.
    static let escapeRange: ClosedRange<UInt32> = 0xEF80...0xEFFF

    /// Whether a scalar stands for one raw byte.
    public static func isEscapedByte(_ scalar: Unicode.Scalar) -> Bool { escapeRange.contains(scalar.value) }

    /// The lossless text of a byte string (a name, a path).
    public static func decode(_ bytes: some Collection<UInt8>) -> String {
        decode(bytes, takingEscapesAsBytes: false)
    }

    /// The text of one of oomctl's own arguments: bytes that are not UTF-8 are kept as with
    /// ``decode(_:)``, and a character of the escape range is taken as the byte it stands for — the
    /// form oomctl's JSON output writes — so that a path read from that output names the same cgroup
    /// again (`oomctl kill "$(jq -r .path …)"`). The one name this cannot give is one whose valid
    /// UTF-8 holds such a character; its parent, or `--pid`, reaches it.
    public static func decodeArgument(cString: UnsafePointer<CChar>) -> String {
        decode(
            UnsafeBufferPointer(start: cString, count: strlen(cString)).lazy.map { UInt8(bitPattern: $0) },
            takingEscapesAsBytes: true)
    }

    private static func decode(_ bytes: some Collection<UInt8>, takingEscapesAsBytes: Bool) -> String {
        let bytes = Array(bytes)
        // The common case: valid UTF-8 with nothing in the escape range's encoding (EE BE/BF xx).
        if !bytes.contains(0xEE), let text = String(validating: bytes, as: UTF8.self) { return text }
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < bytes.count {
            let valid = scalar(at: index, in: bytes)
            let length = valid?.length ?? 1
            if let scalar = valid?.scalar, takingEscapesAsBytes || !escapeRange.contains(scalar.value) {
                scalars.append(scalar)
            } else {
                for byte in bytes[index..<index + length] { scalars.append(escaped(byte)) }
            }
            index += length
        }
        return String(scalars)
    }

    /// The bytes a text stands for: escaped scalars as their byte, every other scalar as its UTF-8.
    public static func encode(_ text: String) -> [UInt8] {
        guard text.unicodeScalars.contains(where: isEscapedByte) else { return Array(text.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if isEscapedByte(scalar) {
                bytes.append(UInt8(truncatingIfNeeded: scalar.value - escapeBase))
            } else {
                bytes.append(contentsOf: String(scalar).utf8)
            }
        }
        return bytes
    }

    /// Calls `body` with the NUL-terminated bytes of `text` (for a system call taking a name or path).
    public static func withCString<Result>(_ text: String, _ body: (UnsafePointer<CChar>) -> Result) -> Result {
        guard text.unicodeScalars.contains(where: isEscapedByte) else { return text.withCString(body) }
        let bytes = encode(text).map { CChar(bitPattern: $0) } + [0]
        return bytes.withUnsafeBufferPointer { buffer in
            // Never empty (it holds at least the NUL), so it has a base address.
            guard let base = buffer.baseAddress else { return "".withCString(body) }
            return body(base)
        }
    }

    /// A heap copy of `text`'s bytes, NUL-terminated, for an argv or environment entry (free(3) it).
    package static func duplicateCString(_ text: String) -> UnsafeMutablePointer<CChar>? {
        withCString(text) { strdup($0) }
    }

    /// The text of a NUL-terminated C string, losslessly.
    public static func decode(cString: UnsafePointer<CChar>) -> String {
        decode(UnsafeBufferPointer(start: cString, count: strlen(cString)).lazy.map { UInt8(bitPattern: $0) })
    }

    private static func escaped(_ byte: UInt8) -> Unicode.Scalar {
        // 0x80…0xFF (a byte that is not valid UTF-8 on its own is never ASCII): always a valid scalar.
        Unicode.Scalar(escapeBase + UInt32(byte)) ?? "?"
    }

    /// The scalar of the valid UTF-8 sequence starting at `index`, and its length; nil when the bytes
    /// there are not valid UTF-8.
    private static func scalar(at index: Int, in bytes: [UInt8]) -> (scalar: Unicode.Scalar, length: Int)? {
        let first = bytes[index]
        let length: Int
        switch first {
        case 0x00...0x7F: return (Unicode.Scalar(first), 1)
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        guard let text = String(validating: bytes[index..<index + length], as: UTF8.self),
            let scalar = text.unicodeScalars.first, text.unicodeScalars.count == 1
        else { return nil }
        return (scalar, length)
    }
}

/// A name or path as the kernel tells it apart: by its bytes. The key of a set or dictionary of listed
/// paths, where `String`'s own equality (canonical equivalence) would fold two cgroups into one.
package struct ByteKey: Hashable, Sendable {
    package let bytes: [UInt8]

    package init(_ text: String) { bytes = Array(text.utf8) }
}

extension String {
    /// Whether two strings are the same bytes (UTF-8), not merely equivalent as `==` says.
    package func isSameBytes(as other: String) -> Bool { utf8.elementsEqual(other.utf8) }
}
