// GenerateResult.java — what a generation produced and why it stopped.
package llm4all;

/** stopReason: "max_tokens", "eog", "aborted", "context_full" or "stop_string". */
public record GenerateResult(String text, String stopReason, int promptTokens, int promptDecoded, int generated,
                             double promptMillis, double generateMillis) {}
