// model.go — Model: a loaded GGUF model (immutable, shared by sessions and goroutines),
// its facts (info, vocabulary, special tokens) and its tokenizer.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
*/
import "C"

import (
	"encoding/json"
	"errors"
	"runtime"
	"sync"
	"unsafe"
)

// ModelOptions are llm4all_model_options. The zero value means the C defaults.
type ModelOptions struct {
	Device     string // "auto", "cpu", "cpu-avx2", ... ("" = "auto")
	NGPULayers *int   // nil = the C default (-1: all that fit); ignored on CPU
	NoMmap     bool   // read the weights instead of mapping them
}

// Model is a loaded model. Close it when done; the finalizer only guards against leaks.
type Model struct {
	mu       sync.Mutex
	ptr      *C.llm4all_model
	sessions int // open sessions, which need the model alive
}

// Load loads a GGUF model file (a path, e.g. one in the llm4all catalogue cache).
// opts may be nil for the defaults. A missing or bad file is an *Error carrying the C message.
func Load(path string, opts *ModelOptions) (*Model, error) {
	var o C.llm4all_model_options
	C.llm4all_model_options_init(&o)
	var cdev *C.char
	if opts != nil {
		if opts.Device != "" {
			cdev = C.CString(opts.Device)
			defer C.free(unsafe.Pointer(cdev))
			o.device = cdev
		}
		if opts.NGPULayers != nil {
			o.n_gpu_layers = C.int32_t(*opts.NGPULayers)
		}
		if opts.NoMmap {
			o.use_mmap = false
		}
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var ptr *C.llm4all_model
	if err := call(func() C.llm4all_status { return C.llm4all_model_load(cpath, &o, &ptr) }); err != nil {
		return nil, err
	}
	m := &Model{ptr: ptr}
	runtime.SetFinalizer(m, func(m *Model) { m.Close() })
	return m, nil
}

// ErrClosed is returned by calls on a closed Model, Session, Chat or Sampler.
var ErrClosed = errors.New("llm4all: use of a closed object")

// Close frees the model. It fails while sessions over it are still open (they use it).
// Closing twice is a no-op.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil
	}
	if m.sessions > 0 {
		return errors.New("llm4all: Model.Close with sessions still open; close them first")
	}
	C.llm4all_model_free(m.ptr)
	m.ptr = nil
	runtime.SetFinalizer(m, nil)
	return nil
}

// handle returns the C pointer, or ErrClosed. The model is immutable in C, so readers
// only need the pointer to stay valid: a model with open sessions cannot be closed, and
// callers below keep m reachable until the C call returns.
func (m *Model) handle() (*C.llm4all_model, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ptr == nil {
		return nil, ErrClosed
	}
	return m.ptr, nil
}

// InfoJSON is the model's description (architecture, parameters, context length,
// vocabulary, special tokens, tensor types, chat template, backend) as the C ABI's JSON.
func (m *Model) InfoJSON() (string, error) {
	p, err := m.handle()
	if err != nil {
		return "", err
	}
	var out *C.char
	err = call(func() C.llm4all_status { return C.llm4all_model_info_json(p, &out) })
	runtime.KeepAlive(m)
	return takeString(out), err
}

// Info is InfoJSON decoded.
func (m *Model) Info() (map[string]any, error) {
	s, err := m.InfoJSON()
	if err != nil {
		return nil, err
	}
	var v map[string]any
	return v, json.Unmarshal([]byte(s), &v)
}

// NVocab is the vocabulary size (0 if closed).
func (m *Model) NVocab() int {
	return m.intFact(func(p *C.llm4all_model) C.int32_t { return C.llm4all_model_n_vocab(p) })
}

// NCtxTrain is the context length the model was trained with.
func (m *Model) NCtxTrain() int {
	return m.intFact(func(p *C.llm4all_model) C.int32_t { return C.llm4all_model_n_ctx_train(p) })
}

// BOS is the beginning-of-sequence token id, -1 if none.
func (m *Model) BOS() int {
	return m.intFact(func(p *C.llm4all_model) C.int32_t { return C.llm4all_model_token_bos(p) })
}

// EOS is the end-of-sequence token id, -1 if none.
func (m *Model) EOS() int {
	return m.intFact(func(p *C.llm4all_model) C.int32_t { return C.llm4all_model_token_eos(p) })
}

// IsEOG says whether token ends generation (EOS, EOT, <|im_end|>, ...).
func (m *Model) IsEOG(token int) bool {
	p, err := m.handle()
	if err != nil {
		return false
	}
	r := bool(C.llm4all_model_token_is_eog(p, C.int32_t(token)))
	runtime.KeepAlive(m)
	return r
}

func (m *Model) intFact(f func(*C.llm4all_model) C.int32_t) int {
	p, err := m.handle()
	if err != nil {
		return 0
	}
	r := int(f(p))
	runtime.KeepAlive(m)
	return r
}

// Tokenize turns text into token ids. addSpecial adds BOS/EOS where the model asks for
// them; parseSpecial turns special-token text such as "<|im_start|>" into its id.
func (m *Model) Tokenize(text string, addSpecial, parseSpecial bool) ([]int32, error) {
	p, err := m.handle()
	if err != nil {
		return nil, err
	}
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	var out *C.int32_t
	var n C.size_t
	err = call(func() C.llm4all_status {
		return C.llm4all_tokenize(p, ctext, C.size_t(len(text)), C.bool(addSpecial), C.bool(parseSpecial), &out, &n)
	})
	runtime.KeepAlive(m)
	if err != nil {
		return nil, err
	}
	defer C.llm4all_free(unsafe.Pointer(out))
	tokens := make([]int32, int(n))
	if n > 0 {
		copy(tokens, unsafe.Slice((*int32)(unsafe.Pointer(out)), int(n)))
	}
	return tokens, nil
}

// Detokenize turns token ids back into text; renderSpecial writes special tokens' text too.
func (m *Model) Detokenize(tokens []int32, renderSpecial bool) (string, error) {
	p, err := m.handle()
	if err != nil {
		return "", err
	}
	ctoks := cTokens(tokens)
	defer C.free(unsafe.Pointer(ctoks))
	var out *C.char
	var n C.size_t
	err = call(func() C.llm4all_status {
		return C.llm4all_detokenize(p, ctoks, C.size_t(len(tokens)), C.bool(renderSpecial), &out, &n)
	})
	runtime.KeepAlive(m)
	return string(takeBytes(out, n)), err
}

// TokenToPiece is the raw bytes of one token (possibly part of a UTF-8 character).
func (m *Model) TokenToPiece(token int32, renderSpecial bool) ([]byte, error) {
	p, err := m.handle()
	if err != nil {
		return nil, err
	}
	var out *C.char
	var n C.size_t
	err = call(func() C.llm4all_status {
		return C.llm4all_token_to_piece(p, C.int32_t(token), C.bool(renderSpecial), &out, &n)
	})
	runtime.KeepAlive(m)
	return takeBytes(out, n), err
}

// cTokens copies tokens into C memory (caller frees; nil for none), so that C never holds
// a pointer into Go memory beyond what cgo's rules allow.
func cTokens(tokens []int32) *C.int32_t {
	if len(tokens) == 0 {
		return nil
	}
	p := (*C.int32_t)(C.malloc(C.size_t(len(tokens)) * 4))
	copy(unsafe.Slice((*int32)(unsafe.Pointer(p)), len(tokens)), tokens)
	return p
}
