package circuit

// The package links the static C library built by `make lib` (target/release/libcircuit.a), so
// a Go binary has no run-time dependency on libcircuit.so. Build with the tag
// `circuit_pkgconfig` to link an installed library found by pkg-config instead (see docs/go.md).

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#include <stdlib.h>
#include "circuit.h"

*/
import "C"

import (
	"fmt"
	"unsafe"
)

// errorFor turns a status code into a Go error (nil for CIRCUIT_OK).
func errorFor(status C.circuit_status, message string) error {
	switch status {
	case C.CIRCUIT_OK:
		return nil
	case C.CIRCUIT_ERR_ALREADY_RECORDED:
		return ErrAlreadyRecorded
	case C.CIRCUIT_ERR_INVALID_HANDLE:
		return ErrClosed
	case C.CIRCUIT_ERR_FOREIGN_PERMIT:
		return ErrForeignPermit
	case C.CIRCUIT_ERR_REGION:
		return &regionError{message}
	default:
		if message == "" {
			message = C.GoString(C.circuit_status_name(C.uint32_t(status)))
		}
		return fmt.Errorf("circuit: %s", message)
	}
}

func cString(s string) (*C.char, func()) {
	c := C.CString(s)
	return c, func() { C.free(unsafe.Pointer(c)) }
}
