// Command llm4all-example loads MODEL, generates N tokens greedily (temperature 0) from
// PROMPT and prints only the generated text: what run-example.sh runs, and what
// llm4all.Model(MODEL).generate(PROMPT, max_tokens=N, temp=0) returns in Python.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"llm4all"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: llm4all-example MODEL PROMPT N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, "N must be an integer:", err)
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2], n); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(path, prompt string, n int) error {
	model, err := llm4all.Load(path, nil)
	if err != nil {
		return err
	}
	defer model.Close()
	session, err := model.NewSession(&llm4all.SessionOptions{NCtx: 2048}) // as llm4all.Model's default
	if err != nil {
		return err
	}
	defer session.Close()
	opts := llm4all.DefaultGenerateOptions()
	opts.MaxTokens = n
	opts.Temp = 0
	res, err := session.Generate(context.Background(), prompt, &opts, nil)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(res.Text)
	return err
}
