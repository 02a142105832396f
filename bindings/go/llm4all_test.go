// llm4all_test.go — tests of the Go binding against the real library and models:
// stories260K from the test data ($LLM4ALL_TESTDATA or ../shared/testdata beside the
// repository) and SmolLM2 from the catalogue cache when present (skipped with the reason
// otherwise). Run through bindings/go/test.sh, which links the core library.
package llm4all

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func stories(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LLM4ALL_TESTDATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata")
	}
	p := filepath.Join(dir, "models", "stories260K.gguf")
	if _, err := os.Stat(p); err != nil {
		t.Skipf("stories260K not found at %s (set LLM4ALL_TESTDATA)", p)
	}
	return p
}

func smollm2(t *testing.T) string {
	t.Helper()
	p := os.Getenv("LLM4ALL_SMOLLM2")
	if p == "" {
		home, _ := os.UserHomeDir()
		cache := os.Getenv("LLM4ALL_CACHE")
		if cache == "" {
			cache = filepath.Join(home, ".cache", "llm4all")
		}
		p = filepath.Join(cache, "models", "smollm2.gguf")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("smollm2 not found at %s (python3 -m llm4all pull smollm2, or set LLM4ALL_SMOLLM2)", p)
	}
	return p
}

func load(t *testing.T, path string) *Model {
	t.Helper()
	m, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func session(t *testing.T, m *Model) *Session {
	t.Helper()
	s, err := m.NewSession(&SessionOptions{NCtx: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func greedy(n int) *GenerateOptions {
	o := DefaultGenerateOptions()
	o.MaxTokens = n
	o.Temp = 0
	return &o
}

func TestMissingModelIsAnError(t *testing.T) {
	_, err := Load("/nonexistent/model.gguf", nil)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	if e.Status != ErrIO || e.Name != "LLM4ALL_ERR_IO" || !strings.Contains(e.Message, "/nonexistent/model.gguf") {
		t.Fatalf("unexpected error %+v", e)
	}
	if !errors.Is(err, &Error{Status: ErrIO}) {
		t.Fatal("errors.Is does not match on the status")
	}
}

func TestVersionAndDefaults(t *testing.T) {
	if ABIVersion() != ABIVersionExpected {
		t.Fatalf("library ABI %d, binding built for %d", ABIVersion(), ABIVersionExpected)
	}
	if Version() == "" || StatusName(ErrBadGGUF) != "LLM4ALL_ERR_BAD_GGUF" {
		t.Fatal("version or status name empty")
	}
	// The C header documents these defaults; the binding must read, not restate, them.
	d := DefaultGenerateOptions()
	if d.MaxTokens != 128 || d.TopK != 40 || d.RepeatLastN != 64 || d.RepeatPenalty != 1 || !d.StopAtEOG {
		t.Fatalf("unexpected defaults %+v", d)
	}
	js, err := DevicesJSON()
	if err != nil || !strings.Contains(js, `"cpu"`) {
		t.Fatalf("devices: %v %s", err, js)
	}
}

func TestModelFactsAndTokenizer(t *testing.T) {
	m := load(t, stories(t))
	if m.NVocab() != 512 || m.NCtxTrain() <= 0 || m.BOS() < 0 || !m.IsEOG(m.EOS()) {
		t.Fatalf("facts: vocab %d ctx %d bos %d eos %d", m.NVocab(), m.NCtxTrain(), m.BOS(), m.EOS())
	}
	info, err := m.Info()
	if err != nil || info["architecture"] != "llama" {
		t.Fatalf("info: %v %v", err, info)
	}
	toks, err := m.Tokenize("Once upon a time", true, false)
	if err != nil || len(toks) < 3 || toks[0] != int32(m.BOS()) {
		t.Fatalf("tokenize: %v %v", err, toks)
	}
	text, err := m.Detokenize(toks, false)
	if err != nil || text != "Once upon a time" {
		t.Fatalf("detokenize: %v %q", err, text)
	}
	var joined []byte
	for _, tok := range toks[1:] {
		p, err := m.TokenToPiece(tok, false)
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, p...)
	}
	if strings.TrimSpace(string(joined)) != "Once upon a time" {
		t.Fatalf("pieces joined: %q", joined)
	}
	_, err = m.Tokenize("bad \xff utf8", false, false)
	if !errors.Is(err, &Error{Status: ErrBadUTF8}) {
		t.Fatalf("invalid UTF-8: want ErrBadUTF8, got %v", err)
	}
	if _, err := m.TokenToPiece(1<<20, false); !errors.Is(err, &Error{Status: ErrInvalidArgument}) {
		t.Fatalf("bad token id: %v", err)
	}
}

func TestGenerateStreamsWhatItReturns(t *testing.T) {
	m := load(t, stories(t))
	s := session(t, m)
	var pieces []string
	res, err := s.Generate(context.Background(), "Once upon a time", greedy(40), func(p string) bool {
		pieces = append(pieces, p)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Generated != 40 || res.StopReason != "max_tokens" || len(pieces) != 40 {
		t.Fatalf("result %+v, %d pieces", res, len(pieces))
	}
	if strings.Join(pieces, "") != res.Text || res.Text == "" {
		t.Fatalf("streamed %q, returned %q", strings.Join(pieces, ""), res.Text)
	}
	// Greedy decoding is deterministic, and the second call reuses the cached prompt.
	again, err := s.Generate(context.Background(), "Once upon a time", greedy(40), nil)
	if err != nil || again.Text != res.Text || again.PromptDecoded >= again.PromptTokens {
		t.Fatalf("second call: %v %+v", err, again)
	}
}

func TestSamplingOptionsReachC(t *testing.T) {
	m := load(t, stories(t))
	s := session(t, m)
	ctx := context.Background()
	o := greedy(30)
	o.Temp, o.Seed, o.TopK, o.TopP = 1.0, 42, 0, 1
	a, err := s.Generate(ctx, "Once upon a time", o, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Generate(ctx, "Once upon a time", o, nil)
	if a.Text != b.Text {
		t.Fatal("same seed gave different text")
	}
	differs := false
	for seed := uint64(1); seed <= 5 && !differs; seed++ {
		o.Seed = seed
		c, _ := s.Generate(ctx, "Once upon a time", o, nil)
		differs = c.Text != a.Text
	}
	if !differs {
		t.Fatal("the seed has no effect: sampling options do not reach C")
	}
	g := greedy(30)
	base, _ := s.Generate(ctx, "Once upon a time", g, nil)
	g.FrequencyPenalty, g.PresencePenalty = 1.5, 1.5
	pen, _ := s.Generate(ctx, "Once upon a time", g, nil)
	if pen.Text == base.Text {
		t.Fatal("penalties have no effect")
	}
	// A stop string ends generation before it and is never part of the text.
	g = greedy(60)
	g.Stop = []string{"Lily"}
	st, err := s.Generate(ctx, "Once upon a time", g, nil)
	if err != nil || st.StopReason != "stop_string" || strings.Contains(st.Text, "Lily") {
		t.Fatalf("stop string: %v %+v", err, st)
	}
	if !strings.HasPrefix(base.Text, st.Text) {
		t.Fatalf("text before the stop string %q is not a prefix of %q", st.Text, base.Text)
	}
}

func TestCallbackStopsAndPanicsPropagate(t *testing.T) {
	m := load(t, stories(t))
	s := session(t, m)
	n := 0
	res, err := s.Generate(context.Background(), "Once upon a time", greedy(50), func(string) bool {
		n++
		return n < 5
	})
	if err != nil || res.StopReason != "aborted" || n != 5 || res.Generated != 5 {
		t.Fatalf("stop from callback: %v %+v n=%d", err, res, n)
	}
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Fatalf("want the callback's panic re-raised, got %v", r)
			}
		}()
		s.Generate(context.Background(), "Once", greedy(10), func(string) bool { panic("boom") })
	}()
	// The session still works after the panic.
	if _, err := s.Generate(context.Background(), "Once", greedy(3), nil); err != nil {
		t.Fatal(err)
	}
}

func TestContextCancellation(t *testing.T) {
	m := load(t, stories(t))
	s := session(t, m)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := s.Generate(ctx, "Once upon a time", greedy(400), func(string) bool {
		n++
		if n == 3 {
			cancel()
			// The watcher goroutine aborts the session; give it time to run before the
			// next token, so that the check below does not depend on scheduling.
			time.Sleep(100 * time.Millisecond)
		}
		return true
	})
	// How many tokens come before the abort lands depends on the machine's load; that it
	// lands well before the 400-token limit is what counts.
	if !errors.Is(err, context.Canceled) || res.StopReason != "aborted" || res.Generated >= 100 {
		t.Fatalf("cancel: %v %+v", err, res)
	}
	if _, err := s.Generate(ctx, "Once", greedy(3), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled context must not start a call: %v", err)
	}
	// The abort request does not leak into the next call.
	if r, err := s.Generate(context.Background(), "Once", greedy(5), nil); err != nil || r.Generated != 5 {
		t.Fatalf("after cancel: %v %+v", err, r)
	}
}

// One model, several sessions on several goroutines: each gets exactly what it gets alone.
func TestConcurrentSessionsShareOneModel(t *testing.T) {
	m := load(t, stories(t))
	prompts := []string{"Once upon a time", "The cat", "Tom and Sue went", "One day, a little bird"}
	want := make([]string, len(prompts))
	alone := session(t, m)
	for i, p := range prompts {
		r, err := alone.Generate(context.Background(), p, greedy(40), nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r.Text
	}
	var wg sync.WaitGroup
	got := make([]string, len(prompts))
	errs := make([]error, len(prompts))
	for i, p := range prompts {
		wg.Add(1)
		go func(i int, p string) {
			defer wg.Done()
			s, err := m.NewSession(&SessionOptions{NCtx: 512, NThreads: 1})
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			for rep := 0; rep < 3; rep++ {
				r, err := s.Generate(context.Background(), p, greedy(40), nil)
				if err != nil || (rep > 0 && r.Text != got[i]) {
					errs[i] = errors.New("repeat differs")
				}
				got[i] = r.Text
			}
		}(i, p)
	}
	wg.Wait()
	for i := range prompts {
		if errs[i] != nil || got[i] != want[i] {
			t.Fatalf("prompt %q: %v: got %q want %q", prompts[i], errs[i], got[i], want[i])
		}
	}
	// Concurrent calls on ONE session are serialised, not corrupted.
	s := session(t, m)
	for i := range prompts {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := s.Generate(context.Background(), prompts[i], greedy(40), nil)
			if err == nil {
				got[i] = r.Text
			}
			errs[i] = err
		}(i)
	}
	wg.Wait()
	for i := range prompts {
		if errs[i] != nil || got[i] != want[i] {
			t.Fatalf("shared session, prompt %q: %v: got %q want %q", prompts[i], errs[i], got[i], want[i])
		}
	}
}

func TestCloseOrderAndUseAfterClose(t *testing.T) {
	m, err := Load(stories(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err == nil {
		t.Fatal("closing a model with an open session must fail")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Generate(context.Background(), "x", nil, nil); err != ErrClosed {
		t.Fatalf("closed session: %v", err)
	}
	s.Abort() // harmless on a closed session
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("second Close must be a no-op")
	}
	if _, err := m.Tokenize("x", false, false); err != ErrClosed {
		t.Fatalf("closed model: %v", err)
	}
}

const chatml = `{% for m in messages %}<|im_start|>{{ m.role }}
{{ m.content }}<|im_end|>
{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}`

func TestChatWithGivenTemplate(t *testing.T) {
	m := load(t, stories(t))
	s := session(t, m)
	c, err := s.NewChat(&ChatOptions{Template: chatml, SystemMessage: "Be brief."})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.AddMessage(Message{"role": "user", "content": "Hi"}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Render()
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
	if err != nil || r != want {
		t.Fatalf("render: %v %q", err, r)
	}
	res, err := c.Respond(context.Background(), greedy(8), nil)
	if err != nil || res.GeneratedTokens == 0 {
		t.Fatalf("respond: %v %+v", err, res)
	}
	msgs, err := c.Messages()
	if err != nil || len(msgs) != 3 || msgs[2]["role"] != "assistant" || msgs[2]["content"] != res.Text {
		t.Fatalf("messages: %v %v", err, msgs)
	}
	if err := s.Close(); err == nil {
		t.Fatal("closing a session with an open chat must fail")
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}
	if msgs, _ := c.Messages(); len(msgs) != 1 {
		t.Fatalf("after reset: %v", msgs)
	}
	if _, err := s.NewChat(&ChatOptions{Template: "{% if %}"}); !errors.Is(err, &Error{Status: ErrTemplate}) {
		t.Fatalf("bad template: %v", err)
	}
	out, err := RenderChatTemplate(chatml, map[string]any{
		"messages": []Message{{"role": "user", "content": "Hi"}}, "add_generation_prompt": false})
	if err != nil || out != "<|im_start|>user\nHi<|im_end|>\n" {
		t.Fatalf("RenderChatTemplate: %v %q", err, out)
	}
}

func TestChatWithModelTemplate(t *testing.T) {
	m := load(t, smollm2(t))
	s := session(t, m)
	c, err := s.NewChat(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var streamed strings.Builder
	res, err := c.Send(context.Background(), "What is the capital of France?", greedy(24), func(p string) bool {
		streamed.WriteString(p)
		return true
	})
	if err != nil || res.Text == "" || streamed.String() != res.Text {
		t.Fatalf("send: %v %+v streamed %q", err, res, streamed.String())
	}
	// The model's own (ChatML) template rendered the conversation.
	r, err := c.Render()
	if err != nil || !strings.Contains(r, "<|im_start|>user\nWhat is the capital of France?<|im_end|>") ||
		!strings.Contains(r, "<|im_start|>assistant\n"+res.Text) {
		t.Fatalf("render: %v %q", err, r)
	}
	// The second turn reuses the first one's tokens from the KV cache.
	res2, err := c.Send(context.Background(), "And of Italy?", greedy(16), nil)
	if err != nil || res2.ReusedTokens == 0 {
		t.Fatalf("second turn: %v %+v", err, res2)
	}
}

func TestLowLevelDecodeScoreSamplerBatch(t *testing.T) {
	m := load(t, stories(t))
	ctx := context.Background()
	toks, _ := m.Tokenize("Once upon a time there was", true, false)
	a, b := session(t, m), session(t, m)
	if err := a.SetTokens(ctx, toks); err != nil || a.NPast() != len(toks) {
		t.Fatalf("set tokens: %v n_past %d", err, a.NPast())
	}
	la, err := a.Logits()
	if err != nil || len(la) != 1 || len(la[0]) != m.NVocab() {
		t.Fatalf("logits: %v", err)
	}
	// The greedy sampler picks the largest logit.
	smp, err := NewSampler(&SamplerOptions{Temp: 0, RepeatPenalty: 1, TopP: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer smp.Close()
	tok, err := smp.Sample(la[0])
	best := 0
	for i, v := range la[0] {
		if v > la[0][best] {
			best = i
		}
	}
	if err != nil || int(tok) != best {
		t.Fatalf("sample: %v %d want %d", err, tok, best)
	}
	if err := smp.Accept(tok); err != nil {
		t.Fatal(err)
	}
	// Scoring the sequence reports the log-probability of each token after the first.
	lp, top1, err := b.Score(ctx, toks, 1)
	if err != nil || len(lp) != len(toks)-1 || len(top1) != len(lp) {
		t.Fatalf("score: %v", err)
	}
	for _, v := range lp {
		if !(v <= 0) {
			t.Fatalf("log-probability %v > 0", v)
		}
	}
	// DecodeBatch gives each session what Decode gives it alone.
	if err := b.Truncate(len(toks) - 1); err != nil {
		t.Fatal(err)
	}
	if err := a.Truncate(len(toks) - 1); err != nil {
		t.Fatal(err)
	}
	last := toks[len(toks)-1:]
	if err := DecodeBatch(ctx, []BatchItem{{Session: a, Tokens: last}, {Session: b, Tokens: []int32{tok}}}); err != nil {
		t.Fatal(err)
	}
	lb, _ := a.Logits()
	for i := range la[0] {
		if la[0][i] != lb[0][i] {
			t.Fatalf("batched logits differ at %d: %v vs %v", i, la[0][i], lb[0][i])
		}
	}
	if err := DecodeBatch(ctx, []BatchItem{{Session: a, Tokens: last}, {Session: a, Tokens: last}}); err == nil {
		t.Fatal("the same session twice must fail")
	}
}

func TestGGUFAndLog(t *testing.T) {
	p := stories(t)
	js, err := GGUFDescribe(p, 4)
	if err != nil || !strings.Contains(js, `"general.architecture":"llama"`) {
		t.Fatalf("describe: %v %.200s", err, js)
	}
	m := load(t, p)
	emb, err := GGUFReadTensor(p, "token_embd.weight")
	if err != nil || len(emb)%m.NVocab() != 0 || len(emb) == 0 {
		t.Fatalf("read tensor: %v %d", err, len(emb))
	}
	if _, err := GGUFDescribe("/nonexistent.gguf", 0); !errors.Is(err, &Error{Status: ErrIO}) {
		t.Fatalf("describe missing: %v", err)
	}
	var mu sync.Mutex
	var got []string
	SetLogHandler(func(level int, msg string) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%d: %s", level, msg))
		mu.Unlock()
	})
	defer SetLogHandler(func(level int, msg string) {
		if level >= LogWarn {
			os.Stderr.WriteString(msg + "\n")
		}
	})
	// A prompt that writes BOS itself when the model adds one too: the engine warns.
	if _, err := m.Tokenize("<s>Hello", true, true); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	warned := false
	for _, g := range got {
		warned = warned || (strings.HasPrefix(g, fmt.Sprintf("%d: ", LogWarn)) && strings.Contains(g, "BOS"))
	}
	if !warned {
		t.Fatalf("no BOS warning reached the handler: %q", got)
	}
}

func TestDeviceOption(t *testing.T) {
	p := stories(t)
	m, err := Load(p, &ModelOptions{Device: "cpu", NoMmap: true})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	_, err = Load(p, &ModelOptions{Device: "no-such-device"})
	var e *Error
	if !errors.As(err, &e) || e.Status != ErrBackend || !strings.Contains(e.Message, "no-such-device") {
		t.Fatalf("unknown device: %v", err)
	}
}
