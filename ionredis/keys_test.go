package ionredis_test

import (
	"strings"
	"testing"

	"github.com/ionkit/ion/ionredis"
	"github.com/ionkit/ion/limit"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hashTag returns the part of key Redis Cluster hashes: the text between
// the first '{' and the first '}' after it, if not empty; else the key.
func hashTag(key string) string {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := strings.IndexByte(key[i+1:], '}')
	if j <= 0 {
		return key
	}
	return key[i+1 : i+1+j]
}

var hostile = []string{
	"", "a", "alice", "{", "}", "{}", "{alice}", "}{", "a}b{c", "{{{{", "}}}}",
	":", "::", "/", "a/b", "ion:rl:{x/y}:0", "%41", "A", "k", "kA", "h", "hAAAA",
	"\x00", "\xff\xfe", "é", strings.Repeat("{", 100), strings.Repeat("x", 10_000),
	"sk_live_51H8abcdefSECRETKEY",
}

// TestKeys_hostile: a crafted key can neither steer every subject into one
// slot (braces), nor collide with another subject or name, nor grow a key
// without bound, nor appear in clear when it may be a secret.
func TestKeys_hostile(t *testing.T) {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", ContextTimeoutEnabled: true}) // never dialled
	defer c.Close()
	for _, readable := range []bool{false, true} {
		var opts []ionredis.LimiterOption
		if readable {
			opts = append(opts, ionredis.WithReadableKeys())
		}
		seen := map[string]string{}
		for _, name := range []string{"api", "api/x", "{api}", "a:b"} {
			lim := ionredis.NewLimiter(c, name, ionredis.Window{Rate: limit.PerSecond(1), Burst: 1},
				append(opts, ionredis.WithWindow(ionredis.Window{Rate: limit.PerHour(1), Burst: 1}))...)
			require.NoError(t, lim.Err())
			for _, s := range hostile {
				keys := lim.KeysOf(s)
				tag := hashTag(keys[0])
				assert.Equal(t, tag, hashTag(keys[1]), "one slot for the windows of %q", s)
				assert.True(t, strings.HasPrefix(keys[0], "ion:rl:{") && strings.Count(keys[0], "{") == 1 &&
					strings.Count(keys[0], "}") == 1, "the input adds no brace: %q", keys[0])
				assert.LessOrEqual(t, len(keys[0]), 160, "bounded key length for %d bytes of input", len(s))
				if prev, dup := seen[keys[0]]; dup {
					t.Errorf("name %q subject %q collides with %s", name, s, prev)
				}
				seen[keys[0]] = name + "|" + s
				if !readable && len(s) > 3 {
					assert.NotContains(t, keys[0], s, "the key is not in clear")
				}
			}
		}
	}
	// Readable keys keep safe input legible, hashed keys never do.
	assert.Equal(t, "ktenant-42", ionredis.EncodeSubject("tenant-42", true))
	assert.Equal(t, "k%7Bx%7D", ionredis.EncodeSubject("{x}", true))
	assert.True(t, strings.HasPrefix(ionredis.EncodeSubject("tenant-42", false), "h"))
	assert.NotContains(t, ionredis.EncodeSubject("sk_live_51H8abcdefSECRETKEY", false), "SECRET")
}

func FuzzKeys(f *testing.F) {
	for _, s := range hostile {
		f.Add(s, "x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, readable := range []bool{false, true} {
			ea, eb := ionredis.EncodeSubject(a, readable), ionredis.EncodeSubject(b, readable)
			if strings.ContainsAny(ea, "{}/:") {
				t.Fatalf("encoding of %q has a separator: %q", a, ea)
			}
			if len(ea) > 70 {
				t.Fatalf("encoding of %q is %d bytes", a, len(ea))
			}
			if a != b && ea == eb {
				t.Fatalf("%q and %q collide as %q", a, b, ea)
			}
		}
	})
}
