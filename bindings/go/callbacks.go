// callbacks.go — the streaming callback that C calls for every generated piece. C gets a
// pointer to C memory holding a cgo.Handle of the Go state (never a Go pointer), and a
// panic in the user's function is caught here (it must not unwind through C frames) and
// re-raised once the C call has returned.
package llm4all

/*
#include <stdlib.h>
#include <stdint.h>
#include <stdbool.h>
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

type pieceSink struct {
	fn       func(piece string) bool
	panicked any
}

//export llm4allGoOnToken
func llm4allGoOnToken(piece *C.char, token C.int32_t, user unsafe.Pointer) C.bool {
	s := (*(*cgo.Handle)(user)).Value().(*pieceSink)
	if s.fn == nil {
		return true
	}
	keep := false
	func() {
		defer func() {
			if r := recover(); r != nil {
				s.panicked = r
			}
		}()
		keep = s.fn(C.GoString(piece))
	}()
	return C.bool(keep && s.panicked == nil)
}

// newSink returns the C user pointer for fn and a function that releases it and
// re-raises a panic of fn.
func newSink(fn func(string) bool) (unsafe.Pointer, func()) {
	s := &pieceSink{fn: fn}
	h := cgo.NewHandle(s)
	user := C.malloc(C.size_t(unsafe.Sizeof(h)))
	*(*cgo.Handle)(user) = h
	return user, func() {
		h.Delete()
		C.free(user)
		if s.panicked != nil {
			panic(s.panicked)
		}
	}
}
