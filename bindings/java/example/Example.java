// Example.java — loads MODEL, generates N tokens greedily (temperature 0) from PROMPT and
// prints only the generated text: what run-example.sh runs, and what
// llm4all.Model(MODEL).generate(PROMPT, max_tokens=N, temp=0) returns in Python.
import java.nio.charset.StandardCharsets;
import llm4all.GenerateOptions;
import llm4all.Llm4allException;
import llm4all.Model;
import llm4all.Session;

public final class Example {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Example MODEL PROMPT N");
            System.exit(2);
        }
        try (Model model = Model.load(args[0]);
             Session session = model.newSession(new Session.Options().nCtx(2048))) { // as llm4all.Model
            GenerateOptions opts = new GenerateOptions().maxTokens(Integer.parseInt(args[2])).temp(0);
            String text = session.generate(args[1], opts).text();
            System.out.write(text.getBytes(StandardCharsets.UTF_8));
            System.out.flush();
        } catch (Llm4allException e) {
            System.err.println("llm4all: " + e.getMessage());
            System.exit(1);
        }
    }
}
