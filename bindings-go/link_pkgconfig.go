//go:build circuit_pkgconfig

package circuit

// #cgo pkg-config: circuit
import "C"
