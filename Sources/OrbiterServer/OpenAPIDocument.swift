import Foundation

/// The OpenAPI 3.1 description of the API, shipped as a resource (Resources/openapi.json) and
/// served at /openapi.json; a schemathesis run checks the server against it.
enum OpenAPIDocument {
    static let text: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json", subdirectory: "Resources"),
              let text = try? String(contentsOf: url, encoding: .utf8) else { return "{}" }
        return text
    }()
}
