package limit

import (
	"sync/atomic"
	"time"
)

// Reservation is a claim on tokens, returned by [TokenBucket.ReserveN] and
// [LeakyBucket.ReserveN]: the tokens are the holder's from the time
// [Reservation.Delay] reports. Reservations are served in the order they are
// made, whatever their size, so a large request is never starved by small
// ones.
//
// A Reservation is safe for concurrent use by multiple goroutines.
type Reservation struct {
	c     claim
	ok    bool
	actNs int64       // the time to act, in ns since base
	done  atomic.Bool // set by the first Cancel
}

// OK reports whether the tokens were reserved. A reservation is not OK when
// n exceeds the burst, n is negative, the limiter failed closed, or the
// tokens would never come (a zero rate, or a wait past the range of
// time.Duration); such a reservation changed nothing.
func (r *Reservation) OK() bool { return r.ok }

// Delay is shorthand for DelayFrom(time.Now()).
func (r *Reservation) Delay() time.Duration { return r.DelayFrom(time.Now()) }

// DelayFrom returns how long after now the holder must wait before using
// the tokens: 0 when they are usable at now, and the maximum Duration when
// the reservation is not OK.
func (r *Reservation) DelayFrom(now time.Time) time.Duration {
	if !r.ok {
		return never
	}
	return time.Duration(max(r.actNs-offsetOf(now), 0))
}

// Cancel is shorthand for CancelAt(time.Now()).
func (r *Reservation) Cancel() { r.CancelAt(time.Now()) }

// CancelAt tells the limiter, at now, that the holder will not use the
// tokens. It gives back the tokens that reservations made after this one
// have not already counted on (those reservations keep their times), so
// later requests are admitted sooner and the rate is never exceeded. Both
// are counted in tokens: a change of the limits since the reservation
// (SetRate, SetTemporaryLimit) does not change what is given back. Once the
// reservation's time to act is before now, the tokens are presumed used and
// nothing is given back. Only the first call has an effect; it does not
// block.
func (r *Reservation) CancelAt(now time.Time) {
	if r.ok && r.done.CompareAndSwap(false, true) {
		r.c.cancel(offsetOf(now), false)
	}
}
