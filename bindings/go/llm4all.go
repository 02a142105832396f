// Package llm4all is the Go binding of the llm4all engine: a thin layer over the C ABI
// (core/include/llm4all/llm4all.h) through cgo, with Go errors, context cancellation and
// Close methods (finalizers are only a safety net).
//
// Thread safety: a *Model is immutable and may be shared by any number of goroutines and
// sessions. A *Session (and a *Chat over it) runs one call at a time: concurrent calls on
// the same session are serialised by a mutex, so use one session per goroutine for
// parallel work. Abort and context cancellation may come from any goroutine.
//
// Linking: the package links against libllm4all.so; set CGO_LDFLAGS="-L$DIR -Wl,-rpath,$DIR"
// where DIR holds the library and its CPU plugins (bindings/core_lib.sh prints it).
package llm4all

/*
#cgo CFLAGS: -I${SRCDIR}/../../core/include
#cgo LDFLAGS: -lllm4all
#include <stdlib.h>
#include <llm4all/llm4all.h>
*/
import "C"

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Status codes of the C ABI (llm4all_status).
const (
	StatusOK           = 0
	ErrInvalidArgument = -1
	ErrIO              = -2
	ErrBadGGUF         = -3
	ErrUnsupported     = -4
	ErrOutOfMemory     = -5
	ErrContextFull     = -6
	ErrBackend         = -7
	ErrBadUTF8         = -8
	ErrCancelled       = -9
	ErrTemplate        = -10
	ErrInternal        = -99
)

// Error is a failed C call: its status code, the status's name and the library's
// description of what went wrong (llm4all_last_error).
type Error struct {
	Status  int
	Name    string // e.g. "LLM4ALL_ERR_IO"
	Message string // the C last-error text
}

func (e *Error) Error() string { return fmt.Sprintf("llm4all: %s (%s)", e.Message, e.Name) }

// Is lets errors.Is(err, &llm4all.Error{Status: llm4all.ErrIO}) match on the status alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// call runs one fallible C call and turns a failure into an *Error. The last error is
// thread-local in C, so the goroutine stays on its OS thread from the call until the
// message is read.
func call(f func() C.llm4all_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.LLM4ALL_OK {
		return nil
	}
	return &Error{
		Status:  int(st),
		Name:    C.GoString(C.llm4all_status_name(st)),
		Message: C.GoString(C.llm4all_last_error()),
	}
}

// StatusName is the short name of a status code, e.g. "LLM4ALL_ERR_BAD_GGUF".
func StatusName(status int) string {
	return C.GoString(C.llm4all_status_name(C.llm4all_status(status)))
}

// Version of the loaded library, e.g. "0.1.0".
func Version() string { return C.GoString(C.llm4all_version()) }

// ABIVersion of the loaded library; this package was written against ABIVersionExpected.
func ABIVersion() uint32 { return uint32(C.llm4all_abi_version()) }

// ABIVersionExpected is LLM4ALL_ABI_VERSION of the header this package was built with.
const ABIVersionExpected = C.LLM4ALL_ABI_VERSION

// takeString copies a library-owned C string into Go and frees it (llm4all_free).
func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	s := C.GoString(p)
	C.llm4all_free(unsafe.Pointer(p))
	return s
}

// takeBytes is takeString for buffers with a known length (may hold partial UTF-8).
func takeBytes(p *C.char, n C.size_t) []byte {
	if p == nil {
		return nil
	}
	b := C.GoBytes(unsafe.Pointer(p), C.int(n))
	C.llm4all_free(unsafe.Pointer(p))
	return b
}

// DevicesJSON describes the backend plugins found and their devices, as the C ABI's JSON.
func DevicesJSON() (string, error) {
	var out *C.char
	err := call(func() C.llm4all_status { return C.llm4all_devices_json(&out) })
	return takeString(out), err
}
