import FoundationEssentials

/// JSON as oomctl writes it everywhere: sorted keys, pretty-printed, slashes unescaped, newline-terminated.
package enum JSONOutput {
    /// Encodes a value. Every model in OOMKit encodes without failure (no NaN or infinite floats come
    /// from the kernel's text), so an encoding failure is reported in the output rather than crashing.
    package static func encode(_ value: some Encodable, pretty: Bool = true) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value)) + [UInt8(ascii: "\n")]
        } catch {
            return Array(#"{"error":"JSON encoding failed"}"#.utf8) + [UInt8(ascii: "\n")]
        }
    }

    /// Decodes a value, with the decoder's complaint as text on failure.
    package static func decode<Value: Decodable>(
        _ type: Value.Type, from bytes: [UInt8]
    ) -> Result<Value, DecodeFailure> {
        do {
            return .success(try JSONDecoder().decode(type, from: Data(bytes)))
        } catch let error as DecodingError {
            return .failure(DecodeFailure(reason: describe(error)))
        } catch {
            return .failure(DecodeFailure(reason: "\(error)"))
        }
    }

    /// "cgroups[2].usage: Expected to decode UInt64 but found a string instead." rather than the
    /// decoder's nested dump.
    static func describe(_ error: DecodingError) -> String {
        func location(_ path: [any CodingKey]) -> String {
            let text = path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            let trimmed = text.hasPrefix(".") ? String(text.dropFirst()) : text
            return trimmed.isEmpty ? "the top level" : trimmed
        }
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return "\(location(context.codingPath)): \(context.debugDescription)"
        case .keyNotFound(let key, let context):
            return "\(location(context.codingPath + [key])): missing"
        @unknown default:
            return "\(error)"
        }
    }

    /// Why JSON did not decode.
    package struct DecodeFailure: Error {
        package var reason: String
    }
}
