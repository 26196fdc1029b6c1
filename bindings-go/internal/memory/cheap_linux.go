//go:build linux

package memory

/*
#include <malloc.h>

// Bytes the C heap (glibc malloc, which the Rust engine allocates from) has handed out and not
// yet taken back: in-use chunks of every arena plus blocks served by mmap.
static unsigned long long circuit_c_heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return (unsigned long long)(m.uordblks + m.hblkhd);
}
*/
import "C"

// CHeapInUse returns the bytes in use on the C heap (glibc's mallinfo2), and true.
func CHeapInUse() (uint64, bool) { return uint64(C.circuit_c_heap_in_use()), true }
