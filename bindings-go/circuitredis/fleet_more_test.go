package circuitredis

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// helperEnv carries "role addr name [startUnixNanos]" to a re-executed test binary.
const helperEnv = "CIRCUITREDIS_HELPER"

// TestHelperInstance is not a test: it is the body of a child instance (a separate process with
// its own client and RedisFleet), run by re-executing the test binary with helperEnv set.
func TestHelperInstance(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		return
	}
	f := strings.Fields(spec)
	role, addr, name := f[0], f[1], f[2]
	switch role {
	case "trip":
		in := newInstance(t, addr, name, circuit.FleetOptions{SyncInterval: 20 * time.Millisecond, MinimumCalls: 10, ResetTimeout: 30 * time.Second})
		for i := 0; i < 20; i++ {
			p, err := in.b.Allow()
			if err != nil {
				break
			}
			in.b.RecordFailure(p)
		}
		deadline := time.Now().Add(3 * time.Second)
		for {
			_, err := in.b.Allow()
			if errors.Is(err, circuit.ErrFleetOpen) {
				fmt.Printf("HELPER TRIPPED %d\n", time.Now().UnixNano())
				break
			}
			if time.Now().After(deadline) {
				fmt.Println("HELPER NOTRIP")
				break
			}
			time.Sleep(time.Millisecond)
		}
		// Stay alive until the parent closes stdin (it has measured by then).
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "probe":
		start, _ := strconv.ParseInt(f[3], 10, 64)
		in := newInstance(t, addr, name, probeOpts)
		fmt.Println("HELPER READY")
		for time.Now().UnixNano() < start {
			time.Sleep(time.Millisecond)
		}
		// Race for probes for 1.5 s: an admitted call is a fleet probe (the local breaker never
		// trips); it is held unrecorded so its lease is not given back within the epoch.
		admitted, epochs := 0, map[uint64]bool{}
		var held []circuit.Permit
		end := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(end) {
			p, err := in.b.Allow()
			if err == nil {
				admitted++
				held = append(held, p)
				if st, _ := in.fleet.Status(); true {
					epochs[st.Epoch] = true
				}
			}
			time.Sleep(time.Millisecond)
		}
		st, _ := in.fleet.Status()
		fmt.Printf("HELPER PROBES %d state=%s epoch=%d epochs=%v\n", admitted, st.State, st.Epoch, epochs)
		for _, p := range held {
			in.b.RecordIgnored(p)
		}
	}
}

var probeOpts = circuit.FleetOptions{SyncInterval: 20 * time.Millisecond, MinimumCalls: 10, ResetTimeout: 700 * time.Millisecond, HalfOpenMaxCalls: 2}

func helper(t *testing.T, spec string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperInstance$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, bufio.NewScanner(out), in
}

// helperLine reads the child's next "HELPER ..." line.
func helperLine(t *testing.T, sc *bufio.Scanner) []string {
	t.Helper()
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "HELPER ") {
			return strings.Fields(l)[1:]
		}
	}
	t.Fatalf("child ended without a HELPER line: %v", sc.Err())
	return nil
}

// Failures in a child process trip the fleet; the parent (its own process, client and
// RedisFleet) learns it within sync_interval plus a round-trip margin.
func TestTripAcrossProcesses(t *testing.T) {
	s := startRedis(t, freePort(t), t.TempDir())
	defer s.stop()
	parent := newInstance(t, s.addr(), "xproc", circuit.FleetOptions{SyncInterval: 20 * time.Millisecond, MinimumCalls: 10, ResetTimeout: 30 * time.Second})
	waitFor(t, 2*time.Second, "parent's first sync", func() bool { st, _ := parent.fleet.Status(); return st.Syncs > 0 })
	_, sc, stdin := helper(t, "trip "+s.addr()+" xproc")
	defer stdin.Close()
	// The parent keeps calling (and is admitted) while the child trips the fleet.
	type seen struct {
		at  int64
		err error
	}
	done := make(chan seen, 1)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			p, err := parent.b.Allow()
			if err == nil {
				parent.b.RecordIgnored(p)
			} else {
				done <- seen{time.Now().UnixNano(), err}
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	defer close(stop)
	l := helperLine(t, sc)
	if l[0] != "TRIPPED" {
		t.Fatalf("child: %v", l)
	}
	tripped, _ := strconv.ParseInt(l[1], 10, 64)
	var got seen
	select {
	case got = <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the parent never saw the fleet open")
	}
	lag := time.Duration(got.at - tripped)
	t.Logf("parent refused %s after the child saw the trip", lag)
	if lag > 20*time.Millisecond+400*time.Millisecond {
		t.Fatalf("parent learned the trip %s after the child", lag)
	}
	if !errors.Is(got.err, circuit.ErrFleetOpen) || !errors.Is(got.err, circuit.ErrOpen) {
		t.Fatalf("parent's refusal %v", got.err)
	}
	if _, err := parent.b.Allow(); !errors.Is(err, circuit.ErrFleetOpen) || !errors.Is(err, circuit.ErrOpen) {
		t.Fatalf("parent's next call: %v", err)
	}
	if st, _ := parent.fleet.Status(); st.State != circuit.StateOpen || st.Epoch == 0 {
		t.Fatalf("parent status %+v", st)
	}
}

// With half_open_max_calls 2, four child processes race for the probes of one half-open epoch:
// at least one and at most two are granted fleet-wide.
func TestFleetProbeCapAcrossProcesses(t *testing.T) {
	s := startRedis(t, freePort(t), t.TempDir())
	defer s.stop()
	tripper := newInstance(t, s.addr(), "probes", probeOpts)
	for i := 0; i < 20; i++ {
		p, err := tripper.b.Allow()
		if err != nil {
			break
		}
		tripper.b.RecordFailure(p)
	}
	waitFor(t, 2*time.Second, "the fleet opens", func() bool {
		_, err := tripper.b.Allow()
		return errors.Is(err, circuit.ErrFleetOpen)
	})
	st0, _ := tripper.fleet.Status()
	tripper.b.Close()
	tripper.rf.Close()
	// Children start now; they race from a common instant (after they are up and synced; the
	// reset timeout elapses about then).
	start := time.Now().Add(400 * time.Millisecond).UnixNano()
	var scs []*bufio.Scanner
	for i := 0; i < 4; i++ {
		_, sc, _ := helper(t, fmt.Sprintf("probe %s probes %d", s.addr(), start))
		scs = append(scs, sc)
	}
	for _, sc := range scs {
		if l := helperLine(t, sc); l[0] != "READY" {
			t.Fatalf("child: %v", l)
		}
	}
	total := 0
	for i, sc := range scs {
		l := helperLine(t, sc)
		if l[0] != "PROBES" {
			t.Fatalf("child %d: %v", i, l)
		}
		n, _ := strconv.Atoi(l[1])
		t.Logf("child %d: %v", i, l)
		total += n
	}
	t.Logf("fleet probes granted: %d (tripped at epoch %d)", total, st0.Epoch)
	if total < 1 || total > 2 {
		t.Fatalf("fleet probes granted in the half-open epoch: %d, want 1..2", total)
	}
}

// The server stopped (SIGSTOP), then continued: no call fails or blocks because of the store,
// the configured degraded mode applies after max_staleness, store_degraded then store_recovered.
func TestStoreStoppedClosedAndOpenModes(t *testing.T) {
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			s := startRedis(t, freePort(t), t.TempDir())
			defer s.stop()
			stopped := false
			defer func() {
				if stopped {
					_ = syscall.Kill(s.pid(), syscall.SIGCONT)
				}
			}()
			const staleness = 300 * time.Millisecond
			in := newInstance(t, s.addr(), "stopped-"+mode, circuit.FleetOptions{SyncInterval: 50 * time.Millisecond, MaxStaleness: staleness, MinimumCalls: 10, ResetTimeout: 30 * time.Second, OnStoreFailure: mode})
			waitFor(t, 2*time.Second, "first sync", func() bool { st, _ := in.fleet.Status(); return st.Syncs > 0 && st.SyncFailures == 0 })
			call := func() error {
				t0 := time.Now()
				p, err := in.b.Allow()
				if err == nil {
					in.b.RecordSuccess(p)
				}
				if d := time.Since(t0); d > 50*time.Millisecond {
					t.Fatalf("a call blocked %s", d)
				}
				if err != nil && !errors.Is(err, circuit.ErrFleetOpen) {
					t.Fatalf("a call failed because of the store: %v", err)
				}
				return err
			}
			if mode == "closed" {
				// Open the fleet first so that mode closed is visible (it admits every call).
				for i := 0; i < 20; i++ {
					p, err := in.b.Allow()
					if err != nil {
						break
					}
					in.b.RecordFailure(p)
				}
				waitFor(t, 2*time.Second, "the fleet opens", func() bool { return call() != nil })
			} else if err := call(); err != nil {
				t.Fatalf("healthy store, fleet closed: %v", err)
			}
			if err := syscall.Kill(s.pid(), syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			stopped = true
			t0 := time.Now()
			var applied, degradedAt time.Duration
			for time.Since(t0) < staleness+time.Second {
				err := call()
				if degradedAt == 0 && in.saw("store_degraded") {
					degradedAt = time.Since(t0)
				}
				if applied == 0 && ((mode == "closed" && err == nil) || (mode == "open" && err != nil)) {
					applied = time.Since(t0)
				}
				if applied != 0 {
					// Once applied the mode holds while the store is stopped.
					if mode == "closed" && err != nil || mode == "open" && err == nil {
						t.Fatalf("mode %s stopped applying at %s: %v", mode, time.Since(t0), err)
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
			if applied == 0 {
				t.Fatalf("mode %s never applied", mode)
			}
			if applied < staleness-20*time.Millisecond {
				t.Fatalf("mode %s applied at %s, before max_staleness %s", mode, applied, staleness)
			}
			t.Logf("mode %s applied %s after SIGSTOP", mode, applied)
			waitFor(t, time.Second, "store_degraded", func() bool { return in.saw("store_degraded") })
			t.Logf("store_degraded %s after SIGSTOP", degradedAt)
			if degradedAt == 0 || degradedAt > staleness+500*time.Millisecond {
				t.Fatalf("store_degraded at %s (0: not while the store was stopped)", degradedAt)
			}
			if st, _ := in.fleet.Status(); !st.Degraded {
				t.Fatalf("status %+v", st)
			}
			if in.saw("store_recovered") {
				t.Fatal("store_recovered while stopped")
			}
			if err := syscall.Kill(s.pid(), syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			stopped = false
			deadline := time.Now().Add(5 * time.Second)
			for !in.saw("store_recovered") {
				call()
				if time.Now().After(deadline) {
					t.Fatal("no store_recovered after SIGCONT")
				}
				time.Sleep(5 * time.Millisecond)
			}
			in.mu.Lock()
			ev := append([]string(nil), in.events...)
			in.mu.Unlock()
			di, ri := -1, -1
			for i, k := range ev {
				if k == "store_degraded" && di < 0 {
					di = i
				}
				if k == "store_recovered" && ri < 0 {
					ri = i
				}
			}
			if di < 0 || ri < di {
				t.Fatalf("events %v", ev)
			}
			// Back on the store: closed-mode fleet is open again, open-mode fleet admits.
			waitFor(t, 2*time.Second, "the stored state decides again", func() bool {
				err := call()
				return (mode == "closed") == (err != nil)
			})
		})
	}
}
