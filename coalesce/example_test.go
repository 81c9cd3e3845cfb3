package coalesce_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/ionkit/ion/coalesce"
	"github.com/ionkit/ion/policy"
)

type userKey struct{}

// Three callers ask for the same profile at once; the calls that arrive while
// the first one's fetch is in flight share it instead of fetching again.
func ExampleNew() {
	// Calls are coalesced by the user id they carry in their ctx.
	byUser := coalesce.New[string](func(ctx context.Context) string {
		id, _ := ctx.Value(userKey{}).(string)
		return id
	}, coalesce.WithName("profiles"))
	fmt.Println(byUser)

	fetchProfile := func(ctx context.Context) (string, error) {
		id, _ := ctx.Value(userKey{}).(string)
		return "profile of " + id, nil
	}

	var wg sync.WaitGroup
	results := make([]string, 3)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.WithValue(context.Background(), userKey{}, "ada")
			v, err := policy.Run(ctx, byUser, fetchProfile)
			results[i] = fmt.Sprint(v, " ", err)
		}()
	}
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
	// Output:
	// coalesce(profiles)
	// profile of ada <nil>
	// profile of ada <nil>
	// profile of ada <nil>
}
