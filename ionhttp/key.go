package ionhttp

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/ionkit/ion"
)

// KeyFunc returns the key a request is limited by: a client address, an API
// key, a route, a tenant. An error means the request has no valid key; see
// [RateLimit] for how it is answered.
type KeyFunc func(r *http.Request) (string, error)

// ErrNoKey is returned by a [KeyFunc] when the request lacks what its key is
// made of (a header, a route pattern, a parsable remote address).
var ErrNoKey = errors.New("ionhttp: request has no key")

// ClientIP returns a KeyFunc keyed by the client's IP address. Without
// trusted proxies it is the address of the TCP peer (Request.RemoteAddr),
// and X-Forwarded-For is ignored, since any client can send it. With
// trusted proxies (IP addresses or CIDR prefixes such as "10.0.0.0/8"), a
// request from a trusted proxy is keyed by the right-most address of
// X-Forwarded-For that is not itself a trusted proxy: the first address
// that the trusted chain vouches for. A malformed address in the header
// stops the walk at the last trusted hop. IPv4-mapped IPv6 addresses are
// keyed as IPv4.
//
// A malformed trusted proxy makes every call return an error matching
// ion.ErrInvalidConfig (RateLimit answers 500); an unparsable RemoteAddr
// returns an error matching [ErrNoKey].
func ClientIP(trustedProxies ...string) KeyFunc {
	var trusted []netip.Prefix
	for _, s := range trustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				cerr := ion.NewConfigError("ionhttp", "ClientIP", "trusted proxy %q is neither an IP address nor a CIDR prefix", s)
				return func(*http.Request) (string, error) { return "", cerr }
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		trusted = append(trusted, p.Masked())
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) (string, error) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		peer, err := netip.ParseAddr(host)
		if err != nil {
			return "", errors.Join(ErrNoKey, err)
		}
		peer = peer.Unmap()
		if len(trusted) == 0 || !isTrusted(peer) {
			return peer.String(), nil
		}
		client := peer
		hops := r.Header.Values("X-Forwarded-For")
		for i := len(hops) - 1; i >= 0; i-- {
			parts := strings.Split(hops[i], ",")
			for j := len(parts) - 1; j >= 0; j-- {
				a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
				if err != nil {
					return client.String(), nil
				}
				client = a.Unmap()
				if !isTrusted(client) {
					return client.String(), nil
				}
			}
		}
		return client.String(), nil
	}
}

// HeaderKey returns a KeyFunc keyed by the value of the header name, such as
// an API key. A request without it gets an error matching [ErrNoKey]
// (RateLimit answers 400), so a client cannot escape its limit by omitting
// the header. An empty name makes every call return an error matching
// ion.ErrInvalidConfig.
func HeaderKey(name string) KeyFunc {
	if name == "" {
		err := ion.NewConfigError("ionhttp", "HeaderKey", "empty header name")
		return func(*http.Request) (string, error) { return "", err }
	}
	missing := errors.Join(ErrNoKey, errors.New("missing header "+http.CanonicalHeaderKey(name)))
	return func(r *http.Request) (string, error) {
		if v := r.Header.Get(name); v != "" {
			return v, nil
		}
		return "", missing
	}
}

// RouteKey is a KeyFunc keyed by the request's method and route pattern, as
// net/http's ServeMux sets it in Request.Pattern ("GET /items/{id}"), so each
// route has one limit whatever its path parameters. The pattern is set only
// once the mux has routed the request: wrap the handler you register
// (mux.Handle(pattern, mw.Handler(h))), not the mux. A request without a
// pattern gets an error matching [ErrNoKey].
func RouteKey(r *http.Request) (string, error) {
	if r.Pattern == "" {
		return "", errNoPattern
	}
	return r.Pattern, nil
}

var errNoPattern = errors.Join(ErrNoKey, errors.New("no route pattern (wrap the handler registered on the ServeMux, not the mux)"))
