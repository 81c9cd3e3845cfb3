package ionredis

// KeysOf returns the Redis keys of subject's windows.
func (l *Limiter) KeysOf(subject string) []string { return l.keysOf(subject) }

// EncodeSubject and EncodeName expose the key encodings.
var (
	EncodeSubject = encodeSubject
	EncodeName    = encodeName
)
