// Generate.cs — the C# example: loads MODEL, generates N tokens greedily (temperature 0) from
// PROMPT and writes only the generated text (UTF-8, no newline added) to stdout.
// Usage: mono generate.exe MODEL PROMPT N
using System;
using System.IO;
using System.Text;
using Llm4all;

static class Example
{
    static int Main(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine("usage: generate.exe MODEL PROMPT N");
            return 2;
        }
        try
        {
            using (var model = Model.Load(args[0], nCtx: 2048))
            {
                string text = model.Generate(args[1], new GenerateOptions { MaxTokens = int.Parse(args[2]), Temp = 0 });
                byte[] bytes = new UTF8Encoding(false).GetBytes(text);
                using (Stream stdout = Console.OpenStandardOutput()) stdout.Write(bytes, 0, bytes.Length);
            }
            return 0;
        }
        catch (Llm4allException e)
        {
            Console.Error.WriteLine("llm4all: {0}: {1}", e.Code, e.Message);
            return 1;
        }
    }
}
