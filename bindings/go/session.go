// session.go — Session: a KV cache and sampler state over a model, for one call at a time;
// generation with every sampling option of llm4all_generate_options, streaming, context
// cancellation (llm4all_session_abort), and the low-level decode/logits/score calls.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
extern bool llm4allGoOnToken(char *piece, int32_t token, void *user);
*/
import "C"

import (
	"context"
	"runtime"
	"sync"
	"unsafe"
)

// KV cache element types (SessionOptions.KVType).
const (
	KVF16 = C.LLM4ALL_KV_F16 // default, half the memory
	KVF32 = C.LLM4ALL_KV_F32 // exact, for comparisons with float references
)

// SessionOptions are llm4all_session_options; zero fields take the C defaults.
type SessionOptions struct {
	NCtx     int // KV cache size in tokens (0 = training context capped at 4096)
	NBatch   int // prompt tokens decoded per step (0 = default 512)
	NThreads int // CPU threads (0 = physical cores)
	KVType   int // KVF16 (default) or KVF32
}

// Session holds one conversation's KV cache. Calls on it are serialised.
type Session struct {
	mu    sync.Mutex   // held during every call that uses the cache
	amu   sync.RWMutex // guards ptr for Abort, which must not wait for the running call
	model *Model       // kept reachable: the C session needs the model alive
	ptr   *C.llm4all_session
	chats int
}

// NewSession creates a session over the model; opts may be nil.
func (m *Model) NewSession(opts *SessionOptions) (*Session, error) {
	var o C.llm4all_session_options
	C.llm4all_session_options_init(&o)
	if opts != nil {
		if opts.NCtx != 0 {
			o.n_ctx = C.int32_t(opts.NCtx)
		}
		if opts.NBatch != 0 {
			o.n_batch = C.int32_t(opts.NBatch)
		}
		if opts.NThreads != 0 {
			o.n_threads = C.int32_t(opts.NThreads)
		}
		o.kv_type = C.int32_t(opts.KVType)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	var ptr *C.llm4all_session
	if err := call(func() C.llm4all_status { return C.llm4all_session_new(m.ptr, &o, &ptr) }); err != nil {
		return nil, err
	}
	m.sessions++
	s := &Session{model: m, ptr: ptr}
	runtime.SetFinalizer(s, func(s *Session) { s.Close() })
	return s, nil
}

// Close frees the session (after any running call ends). It fails while chats over it are open.
func (s *Session) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ptr == nil {
		return nil
	}
	if s.chats > 0 {
		return errorf("Session.Close with chats still open; close them first")
	}
	s.amu.Lock()
	C.llm4all_session_free(s.ptr)
	s.ptr = nil
	s.amu.Unlock()
	runtime.SetFinalizer(s, nil)
	s.model.mu.Lock()
	s.model.sessions--
	s.model.mu.Unlock()
	return nil
}

// lock takes the session for one call; the caller unlocks s.mu.
func (s *Session) lock() (*C.llm4all_session, error) {
	s.mu.Lock()
	if s.ptr == nil {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	return s.ptr, nil
}

// Abort asks the call running on this session to stop at the next token or batch
// boundary. Safe from any goroutine; a no-op when nothing runs.
func (s *Session) Abort() {
	// Not s.mu: the running call holds it. amu only keeps Close from freeing meanwhile.
	s.amu.RLock()
	defer s.amu.RUnlock()
	if s.ptr != nil {
		C.llm4all_session_abort(s.ptr)
	}
}

// watch aborts the session's running call when ctx is cancelled; the returned function
// ends the watch (and waits for it).
func (s *Session) watch(ctx context.Context, p *C.llm4all_session) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case <-ctx.Done():
			C.llm4all_session_abort(p)
		case <-done:
		}
	}()
	return func() { close(done); <-finished }
}

// NCtx is the session's context size in tokens.
func (s *Session) NCtx() int {
	p, err := s.lock()
	if err != nil {
		return 0
	}
	defer s.mu.Unlock()
	return int(C.llm4all_session_n_ctx(p))
}

// NPast is the number of tokens in the KV cache.
func (s *Session) NPast() int {
	p, err := s.lock()
	if err != nil {
		return 0
	}
	defer s.mu.Unlock()
	return int(C.llm4all_session_n_past(p))
}

// SetTokens makes the cache hold exactly tokens (reusing the longest cached prefix).
func (s *Session) SetTokens(ctx context.Context, tokens []int32) error {
	return s.tokensCall(ctx, tokens, func(p *C.llm4all_session, t *C.int32_t, n C.size_t) C.llm4all_status {
		return C.llm4all_session_set_tokens(p, t, n)
	})
}

// Decode appends tokens to the cache; allLogits keeps logits for every appended position.
func (s *Session) Decode(ctx context.Context, tokens []int32, allLogits bool) error {
	return s.tokensCall(ctx, tokens, func(p *C.llm4all_session, t *C.int32_t, n C.size_t) C.llm4all_status {
		return C.llm4all_session_decode(p, t, n, C.bool(allLogits))
	})
}

func (s *Session) tokensCall(ctx context.Context, tokens []int32,
	f func(*C.llm4all_session, *C.int32_t, C.size_t) C.llm4all_status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.lock()
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	ct := cTokens(tokens)
	defer C.free(unsafe.Pointer(ct))
	stop := s.watch(ctx, p)
	err = call(func() C.llm4all_status { return f(p, ct, C.size_t(len(tokens))) })
	stop()
	return cancelled(ctx, err)
}

// cancelled reports ctx's error in place of the C "cancelled" status it caused.
func cancelled(ctx context.Context, err error) error {
	if e, ok := err.(*Error); ok && e.Status == ErrCancelled && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Logits of the last decode: one row of NVocab floats per kept position (a copy).
func (s *Session) Logits() ([][]float32, error) {
	p, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out *C.float
	var rows C.int32_t
	if err := call(func() C.llm4all_status { return C.llm4all_session_logits(p, &out, &rows) }); err != nil {
		return nil, err
	}
	nv := s.model.NVocab()
	all := unsafe.Slice((*float32)(unsafe.Pointer(out)), int(rows)*nv)
	res := make([][]float32, int(rows))
	for i := range res {
		res[i] = append([]float32(nil), all[i*nv:(i+1)*nv]...)
	}
	return res, nil
}

// Truncate drops cached tokens from position nKeep on.
func (s *Session) Truncate(nKeep int) error {
	p, err := s.lock()
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	return call(func() C.llm4all_status { return C.llm4all_session_truncate(p, C.int32_t(nKeep)) })
}

// Score is teacher forcing: the log-probability of tokens[i] given tokens[:i] for
// first <= i < len(tokens) (first >= 1), and the most likely token at each of those positions.
func (s *Session) Score(ctx context.Context, tokens []int32, first int) (logprobs []float32, top1 []int32, err error) {
	if first < 1 || first > len(tokens) {
		return nil, nil, errorf("Score: first must be in [1, len(tokens)]")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	p, err := s.lock()
	if err != nil {
		return nil, nil, err
	}
	defer s.mu.Unlock()
	n := len(tokens) - first
	ct := cTokens(tokens)
	defer C.free(unsafe.Pointer(ct))
	lp := (*C.float)(C.malloc(C.size_t(n+1) * 4))
	defer C.free(unsafe.Pointer(lp))
	t1 := (*C.int32_t)(C.malloc(C.size_t(n+1) * 4))
	defer C.free(unsafe.Pointer(t1))
	stop := s.watch(ctx, p)
	err = call(func() C.llm4all_status {
		return C.llm4all_session_score(p, ct, C.size_t(len(tokens)), C.size_t(first), lp, t1)
	})
	stop()
	if err = cancelled(ctx, err); err != nil {
		return nil, nil, err
	}
	logprobs = append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(lp)), n)...)
	top1 = append([]int32(nil), unsafe.Slice((*int32)(unsafe.Pointer(t1)), n)...)
	return logprobs, top1, nil
}

// Generate continues prompt (raw text, no chat template) and returns the generated text.
// fn (may be nil) receives every piece as it is generated; returning false stops
// generation (StopReason "aborted", no error). Cancelling ctx stops it too; Generate then
// returns the partial result and ctx.Err(). opts nil = the C defaults
// (DefaultGenerateOptions).
func (s *Session) Generate(ctx context.Context, prompt string, opts *GenerateOptions,
	fn func(piece string) bool) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	o, free := opts.toC()
	defer free()
	p, err := s.lock()
	if err != nil {
		return Result{}, err
	}
	defer s.mu.Unlock()
	cprompt := C.CString(prompt)
	defer C.free(unsafe.Pointer(cprompt))
	user, release := newSink(fn)
	var out *C.char
	var r C.llm4all_generate_result
	r.size = C.uint32_t(unsafe.Sizeof(r))
	stop := s.watch(ctx, p)
	err = call(func() C.llm4all_status {
		return C.llm4all_session_generate(p, cprompt, o, C.llm4all_on_token(C.llm4allGoOnToken), user, &out, &r)
	})
	stop()
	release()
	res := Result{
		Text:           takeString(out),
		StopReason:     stopReasonName(r.stop_reason),
		PromptTokens:   int(r.n_prompt_tokens),
		PromptDecoded:  int(r.n_prompt_decoded),
		Generated:      int(r.n_generated),
		PromptMillis:   float64(r.prompt_ms),
		GenerateMillis: float64(r.generate_ms),
	}
	if err == nil && ctx.Err() != nil && res.StopReason == "aborted" {
		err = ctx.Err()
	}
	return res, err
}

// Result of a generation.
type Result struct {
	Text           string
	StopReason     string // "max_tokens", "eog", "aborted", "context_full", "stop_string"
	PromptTokens   int
	PromptDecoded  int // prompt tokens actually decoded (prefix reuse skips the rest)
	Generated      int
	PromptMillis   float64
	GenerateMillis float64
}

func stopReasonName(r C.int32_t) string { return C.GoString(C.llm4all_stop_reason_name(r)) }

func errorf(msg string) error { return &usageError{msg} }

type usageError struct{ msg string }

func (e *usageError) Error() string { return "llm4all: " + e.msg }
