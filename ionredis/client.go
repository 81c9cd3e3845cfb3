package ionredis

import "github.com/redis/go-redis/v9"

// checkClient returns the configuration error of a client that cannot
// work under Ion's backend timeout: go-redis ignores a ctx deadline on the
// socket unless the client was built with ContextTimeoutEnabled, so a hung
// Redis would hold each call for the client's ReadTimeout (seconds) instead
// of the 50ms the failure mode promises. Clients of other types are
// trusted.
func checkClient(c redis.UniversalClient) error {
	var enabled bool
	switch c := c.(type) {
	case nil:
		return configError("client", "nil redis.UniversalClient")
	case *redis.Client:
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		enabled = c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		enabled = c.Options().ContextTimeoutEnabled
	default:
		return nil
	}
	if !enabled {
		return configError("client", "needs ContextTimeoutEnabled: true in its options, so that the backend timeout bounds each round trip")
	}
	return nil
}
