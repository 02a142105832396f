// Llm4allException.java — a failed C call: the status code, its name and the library's
// own description of what went wrong (llm4all_last_error).
package llm4all;

public class Llm4allException extends Exception {
    private static final long serialVersionUID = 1L;
    private final int status;
    private final String statusName;

    public Llm4allException(int status, String statusName, String message) {
        super(message + " (" + statusName + ")");
        this.status = status;
        this.statusName = statusName;
    }

    /** The llm4all_status code (negative), e.g. -2 for LLM4ALL_ERR_IO. */
    public int status() { return status; }

    /** The status's name, e.g. "LLM4ALL_ERR_IO". */
    public String statusName() { return statusName; }
}
