// testdata.ts — where the tests find their references: the shared test data (stories260K and
// llama.cpp's outputs for it) and the cached catalogue models; absent ones skip with a reason.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const root = path.resolve(__dirname, "..", "..", "..", "..");
export const testdata = process.env.LLM4ALL_TESTDATA ?? path.resolve(root, "..", "shared", "testdata");
export const stories = path.join(testdata, "models", "stories260K.gguf");
export const cacheModel = (name: string) =>
  path.join(process.env.LLM4ALL_CACHE ?? path.join(os.homedir(), ".cache", "llm4all"), "models", `${name}.gguf`);

/** The reason a test must skip when file is absent, else false (node:test's skip option). */
export function needs(file: string): string | false {
  return fs.existsSync(file) ? false : `${file} is absent`;
}
