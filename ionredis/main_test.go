package ionredis_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/ionkit/ion/ionredis"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// The real-server suite: a redis-server and a one-node Redis Cluster, both
// started here on random loopback ports when redis-server is on PATH, and
// killed when the package's tests end. Without the binary the real-server
// tests skip loudly, or fail when ION_REDIS_REQUIRED=1 (CI sets it).
var (
	standalone *server // nil without redis-server
	cluster    *server
	serverErr  error // why the servers are missing
)

func TestMain(m *testing.M) {
	standalone, cluster, serverErr = startServers()
	if serverErr != nil {
		fmt.Fprintf(os.Stderr, "\n*** ionredis: the real redis-server suite will NOT run: %v ***\n\n", serverErr)
	}
	code := m.Run()
	standalone.stop()
	cluster.stop()
	if code == 0 {
		// go-redis re-probes a refused address from a pool goroutine that
		// sleeps a second, then sees its client closed: the library's.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/redis/go-redis/v9/internal/pool.(*ConnPool).tryDial")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func startServers() (s, c *server, err error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, nil, fmt.Errorf("redis-server not on PATH (install it: apt-get install redis-server)")
	}
	if s, err = startServer(false); err != nil {
		return nil, nil, err
	}
	if c, err = startServer(true); err != nil {
		s.stop()
		return nil, nil, err
	}
	return s, c, nil
}

// server is a redis-server process this package started.
type server struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startServer starts redis-server on a free loopback port (retrying if
// another process takes the port first) and waits until it answers PING;
// a cluster node also gets every slot and waits for cluster_state:ok.
func startServer(clusterMode bool) (*server, error) {
	var last error
	for range 5 {
		s, err := tryStart(clusterMode)
		if err == nil {
			return s, nil
		}
		last = err
	}
	return nil, last
}

func tryStart(clusterMode bool) (*server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "ionredis-test-")
	if err != nil {
		return nil, err
	}
	args := []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning"}
	if clusterMode {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	}
	s := &server{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command("redis-server", args...)
	s.cmd.Dir = dir
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// Owner: the server; exits when the process does; joined by stop.
	go func() { s.cmd.Wait(); close(s.done) }()
	if err := s.ready(clusterMode); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) ready(clusterMode bool) error {
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer c.Close()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("redis-server on %s exited at start", s.addr)
		default:
		}
		if err := c.Ping(ctx).Err(); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("redis-server on %s: %w", s.addr, err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a child process, not test sync
	}
	if !clusterMode {
		return nil
	}
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		return fmt.Errorf("CLUSTER ADDSLOTSRANGE: %w", err)
	}
	for {
		info, err := c.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster on %s not ok: %v %q", s.addr, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop kills the process and waits for it; a nil s does nothing.
func (s *server) stop() {
	if s == nil {
		return
	}
	s.cmd.Process.Kill() // SIGKILL ends a SIGSTOPped process too
	<-s.done
	os.RemoveAll(s.dir)
}

// restart starts a fresh process on the same port (the data is gone, as
// after a crash without persistence).
func (s *server) restart(t testing.TB) {
	t.Helper()
	s.stop()
	_, port, _ := net.SplitHostPort(s.addr)
	dir, err := os.MkdirTemp("", "ionredis-test-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir, s.done = dir, make(chan struct{})
	s.cmd = exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }() // joined by stop
	if err := s.ready(false); err != nil {
		t.Fatal(err)
	}
}

// requireRealServer skips (loudly) or fails the test when redis-server is
// missing.
func requireRealServer(t testing.TB) {
	t.Helper()
	if serverErr == nil {
		return
	}
	if os.Getenv("ION_REDIS_REQUIRED") == "1" {
		t.Fatalf("ION_REDIS_REQUIRED=1 but the real-server suite cannot run: %v", serverErr)
	}
	t.Skipf("*** SKIPPED: the real redis-server suite did NOT run: %v ***", serverErr)
}

// privateServer starts a redis-server for one test (fault tests signal and
// kill it), stopped at the end of the test.
func privateServer(t testing.TB) *server {
	t.Helper()
	requireRealServer(t)
	s, err := startServer(false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

// target is one backend the conformance suite runs on.
type target struct {
	name string
	mini *miniredis.Miniredis // non-nil for miniredis
	// client returns a new client, closed at the end of the test.
	client func(t testing.TB) redis.UniversalClient
}

// targets returns the backends: miniredis always, the real server and the
// one-node cluster when available (their subtests skip or fail otherwise).
func forEachTarget(t *testing.T, f func(t *testing.T, tg target)) {
	t.Run("miniredis", func(t *testing.T) {
		mr := miniredis.RunT(t)
		f(t, target{name: "miniredis", mini: mr, client: func(t testing.TB) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
			t.Cleanup(func() { c.Close() })
			return c
		}})
	})
	t.Run("redis", func(t *testing.T) {
		requireRealServer(t)
		f(t, target{name: "redis", client: func(t testing.TB) redis.UniversalClient {
			c := redis.NewClient(&redis.Options{Addr: standalone.addr, ContextTimeoutEnabled: true})
			t.Cleanup(func() { c.Close() })
			return c
		}})
	})
	t.Run("cluster", func(t *testing.T) {
		requireRealServer(t)
		f(t, target{name: "cluster", client: func(t testing.TB) redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cluster.addr}, ContextTimeoutEnabled: true})
			t.Cleanup(func() { c.Close() })
			return c
		}})
	})
}

// uniq returns a limit name no other test uses, so tests sharing a server
// never share state.
func uniq(t testing.TB) string {
	return t.Name() + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

func newMini(t testing.TB) *miniredis.Miniredis { return miniredis.RunT(t) }

// roomy is the backend timeout of tests that are not about timeouts: the
// 50ms default is tight for cold connections under -race on a busy machine.
var roomy = ionredis.WithTimeout(5 * time.Second)
