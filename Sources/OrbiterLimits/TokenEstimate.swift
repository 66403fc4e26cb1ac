import OrbiterCore

/// A cheap upper-leaning guess of a request's input tokens, made before the call: UTF-8 bytes of
/// every message (content, tool calls, reasoning text) and tool definition, divided by 4, plus
/// 4 per message and 8 per tool for the framing. English text runs at about 4 bytes a token;
/// code and non-Latin text run lower, which the settle after the call corrects.
public enum TokenEstimate {
    public static func input(of request: ModelRequest) -> Int {
        var bytes = 0
        for message in request.messages {
            bytes += message.content.utf8.count
            for call in message.toolCalls { bytes += call.name.utf8.count + call.arguments.utf8.count }
            for block in message.reasoning { bytes += block.text.utf8.count }
        }
        for tool in request.tools {
            bytes += tool.name.utf8.count + tool.description.utf8.count + tool.parameters.jsonString.utf8.count
        }
        if let output = request.output { bytes += output.schema.jsonString.utf8.count }
        return (bytes + 3) / 4 + 4 * request.messages.count + 8 * request.tools.count
    }
}
