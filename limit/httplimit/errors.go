package httplimit

import (
	"errors"
	"time"
)

// ErrHeader is matched by the error of [MultiTier.UpdateFromHeader] when a
// rate-limit header is malformed; the well-formed headers are still applied.
var ErrHeader = errors.New("httplimit: malformed rate-limit header")

// never is the longest wait a header can ask for.
const never = time.Duration(1<<63 - 1)

// maxBurst is the largest burst limit accepts (2^50).
const maxBurst = 1 << 50
