package limit

import "unsafe"

// EpochLayout returns the size of an epoch and the offset of its tat, for
// the layout test.
func EpochLayout() (size, tatOffset, paramsSz uintptr) {
	var e epoch
	return unsafe.Sizeof(e), unsafe.Offsetof(e.tat), unsafe.Sizeof(e.params)
}
