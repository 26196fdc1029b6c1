package circuitredis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/redis/go-redis/v9"
)

type server struct {
	port    int
	pidfile string
}

func init() { redis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...interface{}) {}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts redis-server on port (fails loudly when it is missing; never skips).
func startRedis(t testing.TB, port int, dir string) *server {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is required (apt-get install redis-server, or scripts/need-redis): %v", err)
	}
	s := &server{port: port, pidfile: filepath.Join(dir, fmt.Sprintf("redis-%d.pid", port))}
	cmd := exec.Command(bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no",
		"--daemonize", "yes", "--pidfile", s.pidfile, "--dir", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redis-server: %v: %s", err, out)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer c.Close()
	for i := 0; ; i++ {
		if c.Ping(context.Background()).Err() == nil {
			return s
		}
		if i > 200 {
			t.Fatal("redis-server did not answer")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

func (s *server) pid() int {
	b, err := os.ReadFile(s.pidfile)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (s *server) stop() {
	if pid := s.pid(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		os.Remove(s.pidfile)
	}
}

type instance struct {
	rf     *RedisFleet
	fleet  *circuit.Fleet
	b      *circuit.Breaker
	mu     sync.Mutex
	events []string
}

func newInstance(t testing.TB, addr, name string, opts circuit.FleetOptions) *instance {
	in := &instance{}
	client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	rf, err := New(client, Options{OnEvent: func(_ string, e circuit.FleetEvent) {
		in.mu.Lock()
		in.events = append(in.events, e.Kind)
		in.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := rf.Attach(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := circuit.New(circuit.Config{Name: name, FailureThreshold: circuit.Of(0), FailureRateThreshold: circuit.Of(1.0), WindowSize: circuit.Of(1000), MinimumCalls: circuit.Of(1000), Fleet: f})
	if err != nil {
		t.Fatal(err)
	}
	in.rf, in.fleet, in.b = rf, f, b
	t.Cleanup(func() { b.Close(); rf.Close(); client.Close() })
	return in
}

func (in *instance) saw(kind string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, k := range in.events {
		if k == kind {
			return true
		}
	}
	return false
}

func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A trip caused by failures in one instance reaches the other within sync_interval plus a
// round trip (instances in one process, each with its own client and fleet).
func TestTripReachesEveryInstance(t *testing.T) {
	s := startRedis(t, freePort(t), t.TempDir())
	defer s.stop()
	opts := circuit.FleetOptions{SyncInterval: 100 * time.Millisecond, MinimumCalls: 10, ResetTimeout: 30 * time.Second}
	a := newInstance(t, s.addr(), "trip", opts)
	b := newInstance(t, s.addr(), "trip", opts)
	for i := 0; i < 20; i++ {
		p, err := a.b.Allow()
		if err != nil {
			break
		}
		a.b.RecordFailure(p)
	}
	waitFor(t, 2*time.Second, "instance a sees the fleet open", func() bool {
		_, err := a.b.Allow()
		return errors.Is(err, circuit.ErrFleetOpen)
	})
	start := time.Now()
	waitFor(t, 300*time.Millisecond, "instance b sees the fleet open", func() bool {
		p, err := b.b.Allow()
		if err == nil {
			b.b.RecordIgnored(p)
		}
		return errors.Is(err, circuit.ErrFleetOpen) && errors.Is(err, circuit.ErrOpen)
	})
	t.Logf("b saw it %s after a", time.Since(start))
	if st, _ := b.fleet.Status(); st.State != circuit.StateOpen || st.Epoch == 0 {
		t.Fatalf("b status %+v", st)
	}
}

// The store killed: calls never fail or block because of it (mode local), store_degraded, then
// store_recovered after a restart on the same port.
func TestStoreDownLocalMode(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	s := startRedis(t, port, dir)
	defer func() { s.stop() }()
	in := newInstance(t, s.addr(), "down", circuit.FleetOptions{SyncInterval: 50 * time.Millisecond, MaxStaleness: 300 * time.Millisecond})
	waitFor(t, time.Second, "first sync", func() bool { st, _ := in.fleet.Status(); return st.Syncs > 0 && st.SyncFailures == 0 })
	s.stop()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		t0 := time.Now()
		p, err := in.b.Allow()
		if err != nil {
			t.Fatalf("a call failed because of the store: %v", err)
		}
		in.b.RecordSuccess(p)
		if d := time.Since(t0); d > 50*time.Millisecond {
			t.Fatalf("a call blocked %s", d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	waitFor(t, time.Second, "store_degraded", func() bool { return in.saw("store_degraded") })
	if st, _ := in.fleet.Status(); !st.Degraded {
		t.Fatalf("status %+v", st)
	}
	s = startRedis(t, port, dir)
	waitFor(t, 3*time.Second, "store_recovered", func() bool { return in.saw("store_recovered") })
}

// Degraded mode open: with the store down the fleet level rejects.
func TestStoreDownOpenMode(t *testing.T) {
	s := startRedis(t, freePort(t), t.TempDir())
	in := newInstance(t, s.addr(), "down-open", circuit.FleetOptions{SyncInterval: 50 * time.Millisecond, MaxStaleness: 200 * time.Millisecond, OnStoreFailure: "open"})
	waitFor(t, time.Second, "first sync", func() bool { st, _ := in.fleet.Status(); return st.Syncs > 0 })
	s.stop()
	waitFor(t, 2*time.Second, "fleet rejects in mode open", func() bool {
		p, err := in.b.Allow()
		if err == nil {
			in.b.RecordSuccess(p)
		}
		return errors.Is(err, circuit.ErrFleetOpen)
	})
}

// Families with a fleet set, two instances: failures of member "down" in instance a open that
// member's fleet breaker (circuit:{hosts/down}), which instance b's member "down" then refuses
// (ErrFleetOpen, named hosts/down) while its member "up" is admitted: one fleet per member.
func TestFamilyMembersEachHaveTheirFleet(t *testing.T) {
	s := startRedis(t, freePort(t), t.TempDir())
	defer s.stop()
	opts := circuit.FleetOptions{SyncInterval: 100 * time.Millisecond, MinimumCalls: 10, ResetTimeout: 30 * time.Second}
	family := func() *circuit.Family {
		client := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
		rf, err := New(client, Options{})
		if err != nil {
			t.Fatal(err)
		}
		set, err := rf.AttachSet(opts, 0)
		if err != nil {
			t.Fatal(err)
		}
		fam, err := circuit.NewFamily(circuit.Config{Name: "hosts", FailureThreshold: circuit.Of(0), FailureRateThreshold: circuit.Of(1.0), WindowSize: circuit.Of(1000), MinimumCalls: circuit.Of(1000), FleetSet: set}, circuit.FamilyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fam.Close(); rf.Close(); client.Close() })
		return fam
	}
	a, b := family(), family()
	for i := 0; i < 20; i++ {
		p, err := a.Allow("down")
		if err != nil {
			break
		}
		p.RecordFailure()
	}
	waitFor(t, 2*time.Second, "instance b's member down refused by its fleet", func() bool {
		p, err := b.Allow("down")
		if err == nil {
			p.RecordIgnored()
		}
		var rej *circuit.RejectedError
		return errors.Is(err, circuit.ErrFleetOpen) && errors.As(err, &rej) && rej.Name == "hosts/down"
	})
	p, err := b.Allow("up")
	if err != nil {
		t.Fatalf("member up must be admitted: %v", err)
	}
	p.RecordSuccess()
	check := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer check.Close()
	waitFor(t, 2*time.Second, "one store key per member", func() bool {
		n, err := check.Exists(context.Background(), "circuit:{hosts/down}", "circuit:{hosts/up}").Result()
		return err == nil && n == 2
	})
}

// A store that lost the breaker (FLUSHALL: a restart without persistence, an eviction) while the
// instances had it open at some epoch: it starts again closed past every epoch they have seen,
// both instances see it closed, and their failures trip it again (docs/fleet.md "Consistency").
func TestAStoreThatLostTheBreakerResumesPastEverySeenEpoch(t *testing.T) {
	s := startRedis(t, freePort(t), t.TempDir())
	defer s.stop()
	opts := circuit.FleetOptions{SyncInterval: 50 * time.Millisecond, MinimumCalls: 10, ResetTimeout: time.Minute, MaxResetTimeout: time.Minute}
	a := newInstance(t, s.addr(), "lost", opts)
	b := newInstance(t, s.addr(), "lost", opts)
	trip := func(in *instance) {
		for i := 0; i < 12; i++ {
			p, err := in.b.Allow()
			if err != nil {
				return
			}
			in.b.RecordFailure(p)
		}
	}
	bothIn := func(state circuit.State) func() bool {
		return func() bool {
			sa, _ := a.fleet.Status()
			sb, _ := b.fleet.Status()
			return sa.State == state && sb.State == state
		}
	}
	trip(a)
	waitFor(t, 3*time.Second, "the fleet open at both instances", bothIn(circuit.StateOpen))
	seen, _ := a.fleet.Status()
	client := redis.NewClient(&redis.Options{Addr: s.addr()})
	defer client.Close()
	if err := client.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the fleet closed again at both instances", bothIn(circuit.StateClosed))
	sa, _ := a.fleet.Status()
	sb, _ := b.fleet.Status()
	if sa.Epoch <= seen.Epoch || sb.Epoch != sa.Epoch {
		t.Fatalf("epochs after the loss: a %d, b %d, seen before %d", sa.Epoch, sb.Epoch, seen.Epoch)
	}
	trip(b)
	waitFor(t, 3*time.Second, "the fleet trips again", bothIn(circuit.StateOpen))
}
