package ionredis

import (
	"math"
	"strconv"

	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
)

// The limiter is GCRA (the generic cell rate algorithm): the state of a
// window is one number, its theoretical arrival time (TAT), the server time
// at which the window would be empty of debt. A request of n tokens is
// admitted when TAT + n*T - tau <= now (T the emission interval, 1/rate;
// tau the burst tolerance, burst*T), and moves TAT to max(TAT, now) + n*T.
// A denial writes nothing, so it charges nothing.
//
// Arithmetic is integer: times are server microseconds (Redis TIME) and T is
// a whole number of microseconds, rounded up (so the limit is never
// exceeded: 3/s runs at 2.999997/s, 7,000/s at 6,993/s, and every rate that
// divides a million a second, or any per-minute or per-hour count that
// divides 60 or 3,600 million, is exact). Every integer stays below 2^53,
// where Lua's doubles are exact: the TAT is a Unix time in µs (~1.8e15) and
// tau < 2^50 µs. Divisions are corrected by an exact multiplication, so no
// count is off by one. The TAT is stored with a TTL of the time until the
// window is full again, so an idle key disappears on its own. The scripts
// rely on Redis 5 or later replicating their effects (not the script), as
// TIME requires.
//
// The script takes every window of one subject (KEYS, one per window, all in
// one hash slot) and decides for all of them at once: it grants the request
// only if every window can, and then charges every window. ARGV is n, the
// least grant accepted (n, or 1 for a batch), the longest wait accepted in
// µs, then T and tau per window. It returns {granted, wait µs, remaining,
// reset-after µs, index of the first denying window (1-based, 0 if none),
// next µs, index of the window that denies one token more}; a denial has
// granted 0 and the wait until the least grant would fit. A partial grant
// (fewer than n, at least least) also says when one token more would fit
// and which window holds it back: the answer for the callers of a coalesced
// decision that were not granted.
const gcraSource = `
local floor = math.floor
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local n, least, maxwait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dead = now + maxwait
local k = #KEYS
if k == 1 then
  -- One window, straight-line: the common case, as cheap as it gets.
  local T, tau = tonumber(ARGV[4]), tonumber(ARGV[5])
  local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
  if tat < now then tat = now end
  local lead = tat - tau
  local grant = n
  if lead + n * T > dead then
    local avail = 0
    if lead < dead then
      avail = floor((dead - lead) / T)
      if avail * T > dead - lead then avail = avail - 1 end
    end
    if avail < least then
      return {0, lead + least * T - now, 0, tat - now, 1, 0, 0}
    end
    grant = avail
  end
  lead = lead + grant * T
  local r = lead + tau - now
  redis.call('SET', KEYS[1], lead + tau, 'PX', floor((r + 999) / 1000))
  local nxt, nidx = 0, 0
  if grant < n then nxt, nidx = lead + T - now, 1 end
  if lead > now then
    return {grant, lead - now, 0, r, 0, nxt, nidx}
  end
  local rem = floor((now - lead) / T)
  if rem * T > now - lead then rem = rem - 1 end
  return {grant, 0, rem, r, 0, nxt, nidx}
end
local leads = {}
local grant = n
local denyW, denyIdx, reset = -1, 0, 0
for i = 1, k do
  local T, tau = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now) or now
  if tat < now then tat = now end
  if tat - now > reset then reset = tat - now end
  -- lead = tat - tau: m tokens fit once lead + m*T <= now
  local lead = tat - tau
  leads[i] = lead
  if lead + grant * T > dead then
    local avail = 0
    if lead < dead then
      avail = floor((dead - lead) / T)
      if avail * T > dead - lead then avail = avail - 1 end
    end
    if avail < least then
      local w = lead + least * T - now
      if w > denyW then denyW, denyIdx = w, i end
    end
    if avail < grant then grant = avail end
  end
end
if denyIdx > 0 then
  return {0, denyW, 0, reset, denyIdx, 0, 0}
end
local wait, remaining, nxt, nidx = 0, -1, 0, 0
reset = 0
for i = 1, k do
  local T, tau = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local lead = leads[i] + grant * T
  local r = lead + tau - now
  if r > reset then reset = r end
  redis.call('SET', KEYS[i], lead + tau, 'PX', floor((r + 999) / 1000))
  if grant < n and lead + T - now > nxt then nxt, nidx = lead + T - now, i end
  local rem = 0
  if lead > now then
    if lead - now > wait then wait = lead - now end
  else
    rem = floor((now - lead) / T)
    if rem * T > now - lead then rem = rem - 1 end
  end
  if remaining < 0 or rem < remaining then remaining = rem end
end
return {grant, wait, remaining, reset, 0, nxt, nidx}
`

// refundSource gives n tokens back to every window in KEYS (a wait that was
// cancelled, or the unused rest of a batch): TAT moves back by n*T, never
// below now. ARGV is n, then T per window.
const refundSource = `
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local n = tonumber(ARGV[1])
for i = 1, #KEYS do
  local tat = tonumber(redis.call('GET', KEYS[i]) or '')
  if tat then
    tat = tat - n * tonumber(ARGV[1 + i])
    if tat <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], tat, 'PX', math.floor((tat - now + 999) / 1000))
    end
  end
end
return 1
`

var (
	gcraScript   = redis.NewScript(gcraSource)
	refundScript = redis.NewScript(refundSource)
)

const (
	// maxBurst bounds a window's burst.
	maxBurst = 1 << 30
	// maxTauMicros bounds a window's burst*T (about 35 years), so that the
	// script's sums stay exact.
	maxTauMicros = 1 << 50
	// maxRate is one token per microsecond, the script's resolution.
	maxRate = 1e6
)

// Window is one rate limit of a [Limiter]: Burst tokens at most, refilled at
// Rate. A Limiter checks all its windows in one round trip and admits a
// request only if every window does ("10/s and 1,000/hour").
type Window struct {
	// Rate is in tokens per second: positive, at most a million (one
	// token per microsecond), or limit.Inf. The interval between tokens is
	// rounded up to a whole microsecond (see the package doc).
	Rate limit.Rate
	// Burst is the most tokens available at once; it must be positive.
	Burst int
	// Name names the window in a rejection (the Tier of the
	// *limit.LimitedError); empty gives its rate, such as "10/s".
	Name string
}

// window is a Window converted for the script.
type window struct {
	name  string
	burst int64
	t     int64 // the emission interval in µs
	args  [2]string
	inf   bool
}

// compile validates w (the parameters are named prefix+"Rate" and
// prefix+"Burst") and converts it.
func compile(w Window, prefix string) (window, error) {
	r := float64(w.Rate)
	c := window{name: w.Name, burst: int64(w.Burst)}
	if c.name == "" {
		c.name = w.Rate.String()
	}
	switch {
	case r != r:
		return c, configError(prefix+"Rate", "must not be NaN")
	case r < 0:
		return c, configError(prefix+"Rate", "must not be negative, got %v", r)
	case w.Burst < 0:
		return c, configError(prefix+"Burst", "must not be negative, got %d", w.Burst)
	case r >= math.MaxFloat64:
		c.inf = true
		return c, nil
	case r == 0:
		return c, configError(prefix+"Rate", "must be positive (a shared limit needs a refill rate), got 0")
	case r > maxRate:
		return c, configError(prefix+"Rate", "must be at most %v/s (one token per microsecond), got %v", maxRate, r)
	case w.Burst == 0:
		return c, configError(prefix+"Burst", "must be positive, got 0")
	case w.Burst > maxBurst:
		return c, configError(prefix+"Burst", "must be at most %d, got %d", maxBurst, w.Burst)
	}
	// Round up, so the limit is never exceeded; the epsilon keeps an exact
	// interval (1e6/3e5 computed as 3.0000000000000004) from rounding up.
	t := math.Ceil(1e6/r - 1e-9)
	if float64(w.Burst)*t >= maxTauMicros {
		return c, configError(prefix+"Burst", "burst/rate must be under 2^50 µs (about 35 years), got %d at %v", w.Burst, w.Rate)
	}
	c.t = int64(t)
	c.args = [2]string{strconv.FormatInt(c.t, 10), strconv.FormatInt(c.t*c.burst, 10)}
	return c, nil
}
