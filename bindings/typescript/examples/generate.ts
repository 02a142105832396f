// generate.ts — the TypeScript example: loads MODEL, generates N tokens greedily (temperature 0)
// from PROMPT and writes only the generated text (UTF-8, no newline added) to stdout.
// Usage: node dist/examples/generate.js MODEL PROMPT N
import { Llm4allError, Model } from "../src/index";

function main(argv: string[]): number {
  if (argv.length !== 3) {
    process.stderr.write("usage: generate.js MODEL PROMPT N\n");
    return 2;
  }
  const [path, prompt, n] = argv;
  try {
    using model = Model.load(path, { nCtx: 2048 });
    process.stdout.write(model.generate(prompt, { maxTokens: Number(n), temp: 0 }));
    return 0;
  } catch (e) {
    if (!(e instanceof Llm4allError)) throw e;
    process.stderr.write(`llm4all: ${e.code}: ${e.message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
