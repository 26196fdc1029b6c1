package circuit

/*
#include "helpers.h"
*/
import "C"

// cgoFloor is one cgo call that does nothing: the reference cost every call into the library
// pays (BenchmarkCgoFloor; scripts/bench-quick-go).
func cgoFloor() { C.circuit_go_floor() }
