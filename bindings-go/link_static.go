//go:build !circuit_pkgconfig

package circuit

// #cgo LDFLAGS: ${SRCDIR}/../target/release/libcircuit.a -lpthread -ldl -lm
import "C"
