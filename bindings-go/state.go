package circuit

/*
#include <stdlib.h>
#include "helpers.h"
*/
import "C"

import (
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// StateError is returned by New when Config.State is refused (malformed, truncated, another
// format or a newer version, another breaker's name, values out of range); nothing is created.
type StateError struct {
	// Field is the document field at fault (a dotted path such as "totals.admitted"), or "" for
	// a document-level problem (not JSON, not an object).
	Field string
	// Message is the library's description, naming the field.
	Message string
}

func (e *StateError) Error() string { return "circuit: " + e.Message }

// wallNanos is the C ABI's wall-clock argument for t (the system time when t is zero).
func wallNanos(t time.Time) C.int64_t {
	if t.IsZero() {
		return C.CIRCUIT_WALL_NOW
	}
	return C.int64_t(t.UnixNano())
}

// MarshalJSON returns the breaker's state document (docs/observability.md, "State documents"),
// exported now: restore it with Config.State in any process, in any language's binding.
func (b *Breaker) MarshalJSON() ([]byte, error) { return b.ExportState(time.Time{}) }

// ExportState is MarshalJSON at the wall-clock instant wall (zero: time.Now()); an explicit
// instant is for tests.
func (b *Breaker) ExportState(wall time.Time) ([]byte, error) {
	size := C.size_t(1024)
	for {
		buffer := (*C.char)(C.malloc(size))
		var needed C.size_t
		st := C.circuit_export(b.h, wallNanos(wall), buffer, size, &needed)
		runtime.KeepAlive(b)
		if st != C.CIRCUIT_OK {
			C.free(unsafe.Pointer(buffer))
			return nil, errorFor(st, "")
		}
		if needed < size {
			doc := C.GoBytes(unsafe.Pointer(buffer), C.int(needed))
			C.free(unsafe.Pointer(buffer))
			return doc, nil
		}
		C.free(unsafe.Pointer(buffer))
		size = needed + 256 // the document grows between calls only by a few digits
	}
}

// restore loads doc into the new breaker h at wall (zero: now).
func restore(h C.circuit_breaker, doc []byte, wall time.Time) error {
	text := C.CBytes(doc)
	defer C.free(text)
	var message [1024]C.char
	var field [128]C.char
	var hasField C.bool
	st := C.circuit_go_restore(h, (*C.char)(text), C.size_t(len(doc)), wallNanos(wall), &message[0], C.size_t(len(message)),
		&field[0], C.size_t(len(field)), &hasField)
	switch st {
	case C.CIRCUIT_OK:
		return nil
	case C.CIRCUIT_ERR_INVALID_STATE:
		e := &StateError{Message: strings.TrimPrefix(C.GoString(&message[0]), "circuit_restore: ")}
		if hasField {
			e.Field = C.GoString(&field[0])
		}
		return e
	default:
		return errorFor(st, strings.TrimPrefix(C.GoString(&message[0]), "circuit_restore: "))
	}
}
