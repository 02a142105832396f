// gguf.go — inspecting GGUF files without loading a model, and routing the library's log.
package llm4all

/*
#include <stdlib.h>
#include <llm4all/llm4all.h>
extern void llm4allGoLog(int32_t level, char *message, void *user);
*/
import "C"

import (
	"sync"
	"unsafe"
)

// GGUFDescribe parses and validates a GGUF file and describes it as JSON (metadata and
// tensors); arrays longer than maxArray items are abbreviated (0 = no limit).
func GGUFDescribe(path string, maxArray uint64) (string, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	var out *C.char
	err := call(func() C.llm4all_status { return C.llm4all_gguf_describe(cp, C.uint64_t(maxArray), &out) })
	return takeString(out), err
}

// GGUFReadTensor reads one tensor of a GGUF file, dequantized to float32 in file order.
func GGUFReadTensor(path, tensor string) ([]float32, error) {
	cp, ct := C.CString(path), C.CString(tensor)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(ct))
	var out *C.float
	var n C.uint64_t
	if err := call(func() C.llm4all_status { return C.llm4all_gguf_read_tensor_f32(cp, ct, &out, &n) }); err != nil {
		return nil, err
	}
	defer C.llm4all_free(unsafe.Pointer(out))
	return append([]float32(nil), unsafe.Slice((*float32)(unsafe.Pointer(out)), int(n))...), nil
}

// Log levels passed to a LogHandler.
const (
	LogDebug = C.LLM4ALL_LOG_DEBUG
	LogInfo  = C.LLM4ALL_LOG_INFO
	LogWarn  = C.LLM4ALL_LOG_WARN
	LogError = C.LLM4ALL_LOG_ERROR
)

var (
	logMu      sync.RWMutex
	logHandler func(level int, message string)
)

//export llm4allGoLog
func llm4allGoLog(level C.int32_t, message *C.char, user unsafe.Pointer) {
	logMu.RLock()
	h := logHandler
	logMu.RUnlock()
	if h != nil {
		h(int(level), C.GoString(message))
	}
}

// SetLogHandler routes all library logging to h, which may be called from any goroutine
// or engine thread; nil silences the library (the default before any call prints
// warnings and errors to stderr).
func SetLogHandler(h func(level int, message string)) {
	logMu.Lock()
	logHandler = h
	logMu.Unlock()
	if h == nil {
		C.llm4all_set_log_callback(nil, nil)
	} else {
		C.llm4all_set_log_callback(C.llm4all_log_fn(C.llm4allGoLog), nil)
	}
}
