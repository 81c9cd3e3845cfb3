package ionredis

import (
	"crypto/sha256"
	"encoding/base64"
)

// Key layout. Every key Ion writes has the shape
//
//	ion:<kind>:{<name>/<subject>}:<part>
//
// where <kind> is "rl" (rate limiter) or "sem", <name> the primitive's
// encoded name and <subject> the encoded key of the call (empty for an
// unkeyed limiter). The braces are a Redis Cluster hash tag: every key of
// one subject (the windows of a limiter, the holders and fencing counter of
// a semaphore) lands in one hash slot, so a script touching them all never
// fails with CROSSSLOT, while different subjects spread over the cluster.
//
// The encodings below never produce '{', '}', '/' or ':', so caller input
// can neither end the hash tag early (steering keys into one slot), nor
// forge the separator (colliding with another name or subject), nor reach
// another kind's namespace.

// maxReadable bounds the length of a readable encoding; longer input is
// hashed, so a key is never longer than about 2*maxReadable+40 bytes.
const maxReadable = 64

// encodeName returns the readable encoding of s, or its hash when the
// readable form would be longer than maxReadable. The readable form starts
// with "k" and the hash with "h", so the two can never collide.
func encodeName(s string) string {
	if enc, ok := escape(s); ok {
		return enc
	}
	return hashed(s)
}

// encodeSubject returns the key part for a call's subject: its hash, or,
// with readable keys, its readable encoding (the hash when too long).
func encodeSubject(s string, readable bool) string {
	if readable {
		return encodeName(s)
	}
	return hashed(s)
}

// hashed returns "h" and the first 16 bytes of SHA-256(s) in unpadded
// base64url: 23 bytes, 128 bits (collisions need ~2^64 subjects), and a
// secret such as an API key never appears in clear in a key name.
func hashed(s string) string {
	sum := sha256.Sum256([]byte(s))
	var b [1 + 22]byte
	b[0] = 'h'
	base64.RawURLEncoding.Encode(b[1:], sum[:16])
	return string(b[:])
}

// escape returns "k" followed by s with every byte outside [A-Za-z0-9._-]
// written as '%' and two hex digits (so the encoding is injective), and
// false when that is longer than maxReadable.
func escape(s string) (string, bool) {
	n := 1
	for i := 0; i < len(s); i++ {
		if plain(s[i]) {
			n++
		} else {
			n += 3
		}
		if n > maxReadable {
			return "", false
		}
	}
	b := make([]byte, 0, n)
	b = append(b, 'k')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigit[c>>4], hexDigit[c&15])
	}
	return string(b), true
}

const hexDigit = "0123456789ABCDEF"

func plain(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '-'
}

// tag returns the hash-tagged middle of a key: "{<name>/<subject>}".
func tag(name, subject string) string {
	return "{" + name + "/" + subject + "}"
}
