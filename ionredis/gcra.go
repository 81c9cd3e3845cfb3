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
// Arithmetic is integer: times are server microseconds (Redis TIME) plus a
// fraction in units of 1/2^20 µs, held as a pair (u, f) of integers, so the
// interval of a rate like 3/s is exact to 1e-12 and the sums never drift.
// Every integer stays below 2^53, where Lua's doubles are exact: u is a
// Unix time in µs (~1.8e15), f*n < 2^50, tau < 2^50 µs. The state is stored
// as "u f" with a TTL of the time until the window is full again, so an idle
// key disappears on its own.
//
// The script takes every window of one subject (KEYS, one per window, all in
// one hash slot) and decides for all of them at once: it grants the request
// only if every window can, and then charges every window. ARGV is n, the
// least grant accepted (n, or 1 for a batch), the longest wait accepted in
// µs, then T.u, T.f, tau.u, tau.f per window. It returns {granted, wait µs,
// remaining, reset-after µs, index of the first denying window (1-based,
// 0 if none)}; a denial has granted 0 and the wait until the least grant
// would fit.
const gcraSource = `
pcall(redis.replicate_commands)
local F = 1048576
local function norm(u, f)
  local c = math.floor(f / F)
  return u + c, f - c * F
end
local function add(au, af, bu, bf) return norm(au + bu, af + bf) end
local function sub(au, af, bu, bf) return norm(au - bu, af - bf) end
local function mul(q, tu, tf) return norm(q * tu, q * tf) end
local function lt(au, af, bu, bf) return au < bu or (au == bu and af < bf) end
local function ceil(u, f) if f > 0 then return u + 1 end return u end
-- quo returns floor(x/t) for x >= 0, t > 0, corrected to be exact.
local function quo(xu, xf, tu, tf)
  local q = math.floor((xu + xf / F) / (tu + tf / F))
  local mu, mf = mul(q, tu, tf)
  while q > 0 and lt(xu, xf, mu, mf) do
    q = q - 1
    mu, mf = sub(mu, mf, tu, tf)
  end
  local nu, nf = add(mu, mf, tu, tf)
  while not lt(xu, xf, nu, nf) do
    q = q + 1
    nu, nf = add(nu, nf, tu, tf)
  end
  return q
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local least = tonumber(ARGV[2])
local maxwait = tonumber(ARGV[3])
local k = #KEYS
local tu, tf, su, sf, tatu, tatf = {}, {}, {}, {}, {}, {}
local grant = n
local denyAt, denyIdx = nil, 0
local deadu = now + maxwait
for i = 1, k do
  local b = 3 + (i - 1) * 4
  tu[i], tf[i] = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  su[i], sf[i] = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local u, f = now, 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local a, c = string.match(v, '^(%d+) (%d+)$')
    if a then
      a, c = tonumber(a), tonumber(c)
      if lt(now, 0, a, c) then u, f = a, c end
    end
  end
  tatu[i], tatf[i] = u, f
  -- tokens that fit by now+maxwait: floor((now + maxwait - (tat - tau)) / T)
  local lu, lf = sub(u, f, su[i], sf[i])
  local avail = 0
  if not lt(deadu, 0, lu, lf) then
    local xu, xf = sub(deadu, 0, lu, lf)
    avail = quo(xu, xf, tu[i], tf[i])
  end
  if avail < least then
    -- the least grant fits at tat + least*T - tau
    local mu, mf = mul(least, tu[i], tf[i])
    local au, af = add(lu, lf, mu, mf)
    local w = ceil(sub(au, af, now, 0))
    if denyAt == nil or w > denyAt then denyAt, denyIdx = w, i end
  end
  if avail < grant then grant = avail end
end
if denyAt ~= nil then
  local reset = 0
  for i = 1, k do
    local r = ceil(sub(tatu[i], tatf[i], now, 0))
    if r > reset then reset = r end
  end
  return {0, denyAt, 0, reset, denyIdx}
end
local wait, reset, remaining = 0, 0, nil
for i = 1, k do
  local mu, mf = mul(grant, tu[i], tf[i])
  local nu, nf = add(tatu[i], tatf[i], mu, mf)
  local ru, rf = sub(nu, nf, now, 0)
  local r = ceil(ru, rf)
  if r > reset then reset = r end
  redis.call('SET', KEYS[i], string.format('%d %d', nu, nf), 'PX', math.floor((r + 999) / 1000))
  local lu, lf = sub(nu, nf, su[i], sf[i])
  local rem = 0
  if lt(now, 0, lu, lf) then
    local w = ceil(sub(lu, lf, now, 0))
    if w > wait then wait = w end
  else
    local xu, xf = sub(now, 0, lu, lf)
    rem = quo(xu, xf, tu[i], tf[i])
  end
  if remaining == nil or rem < remaining then remaining = rem end
end
return {grant, wait, remaining, reset, 0}
`

// refundSource gives n tokens back to every window in KEYS (a wait that was
// cancelled, or the unused rest of a batch): TAT moves back by n*T, never
// below now. ARGV is n, then T.u, T.f per window.
const refundSource = `
pcall(redis.replicate_commands)
local F = 1048576
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local a, c = string.match(v, '^(%d+) (%d+)$')
    if a then
      local tu, tf = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
      local u, f = tonumber(a) - n * tu, tonumber(c) - n * tf
      local carry = math.floor(f / F)
      u, f = u + carry, f - carry * F
      if u < now or (u == now and f == 0) then
        redis.call('DEL', KEYS[i])
      else
        local r = u - now
        if f > 0 then r = r + 1 end
        redis.call('SET', KEYS[i], string.format('%d %d', u, f), 'PX', math.floor((r + 999) / 1000))
      end
    end
  end
end
return 1
`

var (
	gcraScript   = redis.NewScript(gcraSource)
	refundScript = redis.NewScript(refundSource)
)

// fracBits is the number of fraction bits of the fixed-point microseconds.
const fracBits = 20

const (
	// maxBurst bounds a window's burst, so that n*T.f stays below 2^50.
	maxBurst = 1 << 30
	// maxTauMicros bounds a window's burst*T (about 35 years), so that the
	// script's sums stay exact.
	maxTauMicros = 1 << 50
)

// Window is one rate limit of a [Limiter]: Burst tokens at most, refilled at
// Rate. A Limiter checks all its windows in one round trip and admits a
// request only if every window does ("10/s and 1,000/hour").
type Window struct {
	Rate  limit.Rate // tokens per second; must be positive and finite (or limit.Inf).
	Burst int        // the most tokens available at once; must be positive.
	// Name names the window in a rejection (the Tier of the
	// *limit.LimitedError); empty gives its rate, such as "10/s".
	Name string
}

// window is a Window converted for the script.
type window struct {
	name       string
	burst      int64
	tu, tf     int64 // T in fixed point
	su, sf     int64 // tau in fixed point
	args       [4]string
	intervalNs float64
	inf        bool
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
	case w.Burst == 0:
		return c, configError(prefix+"Burst", "must be positive, got 0")
	case w.Burst > maxBurst:
		return c, configError(prefix+"Burst", "must be at most %d, got %d", maxBurst, w.Burst)
	}
	tFixed := math.Round(float64(1<<fracBits) * 1e6 / r)
	switch {
	case tFixed < 1:
		return c, configError(prefix+"Rate", "must be at most %v/s, got %v", float64(1<<fracBits)*1e6, r)
	case float64(w.Burst)*1e6/r >= maxTauMicros:
		return c, configError(prefix+"Burst", "burst/rate must be under 2^50 µs (about 35 years), got %d at %v", w.Burst, w.Rate)
	}
	t := int64(tFixed)
	c.tu, c.tf = t>>fracBits, t&(1<<fracBits-1)
	sf := c.burst * c.tf
	c.su, c.sf = c.burst*c.tu+sf>>fracBits, sf&(1<<fracBits-1)
	c.args = [4]string{strconv.FormatInt(c.tu, 10), strconv.FormatInt(c.tf, 10), strconv.FormatInt(c.su, 10), strconv.FormatInt(c.sf, 10)}
	c.intervalNs = 1e9 / r
	return c, nil
}
