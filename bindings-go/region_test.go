package circuit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The multi-process tests re-run this test binary as child processes (the standard pattern:
// os.Args[0] -test.run=TestHelperProcess, the role in an environment variable). A child opens the
// region by path, creates the breaker by name, and answers commands read from stdin, one line
// each, with one "reply ..." line on stdout.

const (
	helperRole = "CIRCUIT_REGION_HELPER"
	helperPath = "CIRCUIT_REGION_PATH"
)

// regionConfig is the configuration every process of these tests uses for breaker name.
func regionConfig(region *HostRegion, name string, threshold, probes int) Config {
	return Config{
		Name: name, Region: region, FailureThreshold: Of(threshold), HalfOpenMaxCalls: Of(probes),
		ResetTimeout: Of(time.Second),
	}
}

// TestHelperProcess is not a test: it is the child process of the multi-process tests.
func TestHelperProcess(t *testing.T) {
	role := os.Getenv(helperRole)
	if role == "" {
		return
	}
	os.Exit(helper(role, os.Getenv(helperPath)))
}

func helper(role, path string) int {
	region, err := OpenManualHostRegion(path, 8)
	if err != nil {
		fmt.Println("reply error", err)
		return 1
	}
	var b *Breaker
	switch role {
	case "failures":
		b, err = New(regionConfig(region, "inventory", 5, 1))
	case "probes":
		b, err = New(regionConfig(region, "search", 1, 2))
	case "family": // the member "a.example" of the family "hosts" in the region
		var f *Family
		if f, err = NewFamily(regionConfig(region, "hosts", 2, 1), FamilyOptions{}); err == nil {
			defer f.Close()
			b, err = f.Get("a.example")
		}
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	region.Close() // the breaker keeps working
	if err != nil {
		fmt.Println("reply error", err)
		return 1
	}
	defer b.Close()
	fmt.Println("reply ready")
	var held []Permit // probes are held until stdin closes, so that they stay taken
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "fail": // admit one call and record it as a failure
			p, err := b.Allow()
			if err == nil {
				_, err = p.RecordFailure()
			}
			fmt.Println("reply", outcome(err), b.State())
		case "probe": // admit one call and hold its permit
			p, err := b.Allow()
			if err == nil {
				held = append(held, p)
			}
			fmt.Println("reply", outcome(err), b.State())
		case "state":
			counts, ok := b.ProcessCounts()
			fmt.Println("reply", b.State(), counts.Failures, ok)
		}
	}
	for _, p := range held {
		_, _ = p.RecordIgnored()
	}
	return 0
}

func outcome(err error) string {
	var rejected *RejectedError
	switch {
	case err == nil:
		return "admitted"
	case errors.As(err, &rejected):
		return "rejected:" + rejected.Reason
	default:
		return "error:" + strings.ReplaceAll(err.Error(), " ", "_")
	}
}

// process is a running child.
type process struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startHelper(t *testing.T, role, path string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperRole+"="+role, helperPath+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		p.stdin.Close()
		_ = p.cmd.Wait()
	})
	return p
}

// reply reads the child's next reply line, as its fields after "reply".
func (p *process) reply(t *testing.T) []string {
	t.Helper()
	for p.out.Scan() {
		if fields := strings.Fields(p.out.Text()); len(fields) > 0 && fields[0] == "reply" {
			return fields[1:]
		}
	}
	t.Fatalf("child %d: no reply (%v)", p.cmd.Process.Pid, p.out.Err())
	return nil
}

func (p *process) ask(t *testing.T, command string) []string {
	t.Helper()
	if _, err := fmt.Fprintln(p.stdin, command); err != nil {
		t.Fatalf("child %d: %v", p.cmd.Process.Pid, err)
	}
	return p.reply(t)
}

func (p *process) ready(t *testing.T) {
	t.Helper()
	if r := p.reply(t); len(r) == 0 || r[0] != "ready" {
		t.Fatalf("child %d did not start: %v", p.cmd.Process.Pid, r)
	}
}

func (p *process) finish(t *testing.T) {
	t.Helper()
	p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		t.Errorf("child %d: %v", p.cmd.Process.Pid, err)
	}
}

// Four child processes record failures in turn: with FailureThreshold 5, four leave the breaker
// closed and the fifth opens it for every process; the parent's listener sees that transition as
// Remote, at the parent's next operation on the breaker.
func TestRegionFailuresAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failures.circuit")
	region, err := OpenManualHostRegion(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Close()
	b, err := New(regionConfig(region, "inventory", 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	var seen []Transition
	if _, err := b.OnStateChange(func(tr Transition) {
		mu.Lock()
		seen = append(seen, tr)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	events := func() []Transition {
		mu.Lock()
		defer mu.Unlock()
		return append([]Transition(nil), seen...)
	}

	children := make([]*process, 4)
	for i := range children {
		children[i] = startHelper(t, "failures", path)
	}
	for _, c := range children {
		c.ready(t)
	}
	for i := range 5 {
		r := children[i%4].ask(t, "fail")
		want := StateClosed
		if i == 4 {
			want = StateOpen
		}
		if r[0] != "admitted" || State(r[1]) != want {
			t.Fatalf("failure %d: %v, want admitted and %s", i+1, r, want)
		}
	}
	if got := events(); len(got) != 0 {
		t.Fatalf("the parent's listener ran before its next operation: %+v", got)
	}
	var failures uint64
	for _, c := range children {
		r := c.ask(t, "state")
		if State(r[0]) != StateOpen || r[2] != "true" {
			t.Errorf("a child sees %v, want open with its own counts", r)
		}
		var n uint64
		fmt.Sscan(r[1], &n)
		failures += n
	}
	if failures != 5 {
		t.Errorf("the children's own failures add up to %d, want 5", failures)
	}
	if r := children[1].ask(t, "fail"); r[0] != "rejected:open" {
		t.Errorf("a child's next call: %v, want rejected:open", r)
	}
	for _, c := range children {
		c.finish(t)
	}

	if s := b.State(); s != StateOpen {
		t.Fatalf("the parent sees %s, want open", s)
	}
	got := events()
	if len(got) != 1 || !got[0].Remote || got[0].From != StateClosed || got[0].To != StateOpen || got[0].Reason != "failure_threshold" {
		t.Fatalf("the parent's listener got %+v, want one remote closed -> open (failure_threshold)", got)
	}
	m, err := b.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.Failures != 5 || m.Opened != 1 || m.RejectedOpen != 1 {
		t.Errorf("region-wide metrics: %d failures, opened %d, %d rejected; want 5, 1, 1", m.Failures, m.Opened, m.RejectedOpen)
	}
	if own, ok := b.ProcessCounts(); !ok || own != (ProcessCounts{}) {
		t.Errorf("the parent's own counts: %+v, %v; want zero", own, ok)
	}

	// A local transition is not remote.
	if err := region.Advance(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.Execute(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	got = events()
	if len(got) != 3 || got[1].Remote || got[2].Remote || got[2].To != StateClosed {
		t.Errorf("local transitions: %+v, want half_open then closed, not remote", got[1:])
	}
}

// Eight child processes race for the probes of a half-open breaker with HalfOpenMaxCalls 2: the
// parent trips it, advances the region's manual clock past the reset timeout and releases the
// children at once (a line on each one's stdin); exactly two are admitted in total.
func TestRegionProbeCapAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "probes.circuit")
	region, err := OpenManualHostRegion(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Close()
	b, err := New(regionConfig(region, "search", 1, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Execute(func() error { return errors.New("down") }); err == nil {
		t.Fatal("the call should fail")
	}
	if s := b.State(); s != StateOpen {
		t.Fatalf("state %s, want open", s)
	}

	children := make([]*process, 8)
	for i := range children {
		children[i] = startHelper(t, "probes", path)
	}
	for _, c := range children {
		c.ready(t)
	}
	if err := region.Advance(time.Second); err != nil {
		t.Fatal(err)
	}
	// The start barrier: every child is waiting on its stdin; release them together.
	for _, c := range children {
		if _, err := fmt.Fprintln(c.stdin, "probe"); err != nil {
			t.Fatal(err)
		}
	}
	admitted, full := 0, 0
	for _, c := range children {
		switch r := c.reply(t); r[0] {
		case "admitted":
			admitted++
		case "rejected:half_open_full":
			full++
		default:
			t.Errorf("a child got %v", r)
		}
	}
	if admitted != 2 || full != 6 {
		t.Errorf("%d admitted, %d rejected half_open_full; want exactly 2 and 6", admitted, full)
	}
	if _, err := b.Allow(); !errors.Is(err, ErrHalfOpenFull) {
		t.Errorf("the parent's Allow: %v, want ErrHalfOpenFull", err)
	}
	m, err := b.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	if m.State != StateHalfOpen || m.RejectedHalfOpenFull != 7 {
		t.Errorf("metrics: %s with %d half_open_full rejections; want half_open, 7", m.State, m.RejectedHalfOpenFull)
	}
	for _, c := range children {
		c.finish(t)
	}
}

// A family in a region across processes: a child process creates the family "hosts" in the
// region by path and trips the member of "a.example"; the parent's member of that key is open,
// its family listener gets the transition with Remote set at the parent's next operation on that
// member, and another key is closed. Then a full region answers new keys with the overflow
// breaker, and the same family with other options is refused.
func TestRegionFamilyAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "family.circuit")
	region, err := OpenManualHostRegion(path, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer region.Close()
	f, err := NewFamily(regionConfig(region, "hosts", 2, 1), FamilyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var mu sync.Mutex
	var seen []FamilyTransition
	if _, err := f.OnStateChange(func(tr FamilyTransition) {
		mu.Lock()
		seen = append(seen, tr)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	events := func() []FamilyTransition {
		mu.Lock()
		defer mu.Unlock()
		return append([]FamilyTransition(nil), seen...)
	}
	mine, err := f.Get("a.example")
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	if mine.Name() != "hosts/a.example" || mine.State() != StateClosed {
		t.Fatalf("the parent's member: %q, %s; want hosts/a.example, closed", mine.Name(), mine.State())
	}

	child := startHelper(t, "family", path)
	child.ready(t)
	if r := child.ask(t, "fail"); r[0] != "admitted" || State(r[1]) != StateClosed {
		t.Fatalf("the child's first failure: %v, want admitted and closed", r)
	}
	if r := child.ask(t, "fail"); r[0] != "admitted" || State(r[1]) != StateOpen {
		t.Fatalf("the child's second failure: %v, want admitted and open", r)
	}
	child.finish(t)
	if got := events(); len(got) != 0 {
		t.Fatalf("the parent's listener ran before its next operation: %+v", got)
	}

	if s := mine.State(); s != StateOpen {
		t.Fatalf("the parent's member of the key: %s, want open", s)
	}
	got := events()
	if len(got) != 1 || got[0].Key != "a.example" || got[0].Overflow || !got[0].Remote ||
		got[0].From != StateClosed || got[0].To != StateOpen || got[0].Reason != "failure_threshold" {
		t.Fatalf("the parent's family listener got %+v, want one remote closed -> open of a.example", got)
	}
	if _, err := mine.Allow(); !errors.Is(err, ErrOpen) {
		t.Errorf("the parent's Allow on the member: %v, want ErrOpen", err)
	}
	other, err := f.Get("b.example")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if other.Name() != "hosts/b.example" || other.State() != StateClosed {
		t.Errorf("another key: %q, %s; want hosts/b.example, closed", other.Name(), other.State())
	}
	if m, err := mine.Metrics(); err != nil || m.Failures != 2 || m.Opened != 1 {
		t.Errorf("the member's region-wide metrics: %+v, %v; want 2 failures, opened once", m, err)
	}

	// Records in use: hosts/(overflow), hosts/a.example, hosts/b.example. Five more keys fill the
	// region; the next new key gets the overflow breaker.
	for _, key := range []string{"k1", "k2", "k3", "k4", "k5"} {
		b, err := f.Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if b.Name() != "hosts/"+key {
			t.Errorf("Get(%q): %q", key, b.Name())
		}
		b.Close()
	}
	overflow, err := f.Get("one-too-many")
	if err != nil {
		t.Fatal(err)
	}
	defer overflow.Close()
	if overflow.Name() != "hosts/(overflow)" || f.Contains("one-too-many") {
		t.Errorf("a new key in a full region: %q (member: %v), want the overflow breaker", overflow.Name(), f.Contains("one-too-many"))
	}
	if err := overflow.Execute(func() error { return nil }); err != nil {
		t.Errorf("the overflow breaker: %v", err)
	}

	// The same family with other options: refused, naming the option.
	_, err = NewFamily(regionConfig(region, "hosts", 3, 1), FamilyOptions{})
	if !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), "already exists with different options") ||
		!strings.Contains(err.Error(), "failure_threshold") {
		t.Errorf("the family with other options: %v, want ErrRegion naming failure_threshold", err)
	}
	// A new family in the full region: no room for its overflow breaker.
	if _, err := NewFamily(regionConfig(region, "other", 2, 1), FamilyOptions{}); !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), "full") {
		t.Errorf("a family in a full region: %v, want ErrRegion (full)", err)
	}
}

func TestRegionErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "errors.circuit")
	region, err := OpenManualHostRegion(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(regionConfig(region, "payments", 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// Options mismatch: an error matching ErrRegion that names every differing option.
	_, err = New(regionConfig(region, "payments", 3, 2))
	if !errors.Is(err, ErrRegion) {
		t.Fatalf("other options: %v, want ErrRegion", err)
	}
	for _, want := range []string{path, `"payments" already exists with different options`, "failure_threshold", "half_open_max_calls"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message %q does not contain %q", err, want)
		}
	}
	if !strings.HasPrefix(err.Error(), "circuit: circuit region ") {
		t.Errorf("message %q", err)
	}

	if _, err := New(regionConfig(region, "", 5, 1)); !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), "needs a name") {
		t.Errorf("unnamed: %v", err)
	}
	clock, _ := NewManualClock()
	defer clock.Close()
	withClock := regionConfig(region, "payments", 5, 1)
	withClock.Clock = clock
	var configErr *ConfigError
	if _, err := New(withClock); !errors.As(err, &configErr) || configErr.Option != "clock" {
		t.Errorf("Region and Clock: %v, want a *ConfigError naming clock", err)
	}
	if _, err := NewFamily(withClock, FamilyOptions{}); !errors.As(err, &configErr) || configErr.Option != "clock" {
		t.Errorf("NewFamily with a Region and a Clock: %v, want a *ConfigError naming clock", err)
	}
	if _, err := NewFamily(regionConfig(region, "", 5, 1), FamilyOptions{}); !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), "needs a name") {
		t.Errorf("an unnamed family in a region: %v, want ErrRegion", err)
	}

	// Opening: the other clock, another capacity, a missing directory, a bad capacity.
	for name, open := range map[string]func() (*HostRegion, error){
		"the other clock":     func() (*HostRegion, error) { return OpenHostRegion(path, 4) },
		"another capacity":    func() (*HostRegion, error) { return OpenManualHostRegion(path, 5) },
		"a missing directory": func() (*HostRegion, error) { return OpenHostRegion(filepath.Join(dir, "no", "such"), 4) },
		"capacity 0":          func() (*HostRegion, error) { return OpenHostRegion(filepath.Join(dir, "zero"), 0) },
		"an empty path":       func() (*HostRegion, error) { return OpenHostRegion("", 4) },
		"a file not a region": func() (*HostRegion, error) { return OpenHostRegion(writeFile(t, dir, "foreign"), 4) },
	} {
		if r, err := open(); !errors.Is(err, ErrRegion) || r != nil {
			t.Errorf("%s: %v, want ErrRegion", name, err)
		} else if !strings.HasPrefix(err.Error(), "circuit: circuit region ") {
			t.Errorf("%s: message %q", name, err)
		}
	}
	host, err := OpenHostRegion(filepath.Join(dir, "host.circuit"), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Advance(time.Second); !errors.Is(err, ErrRegion) || !strings.Contains(err.Error(), "host clock") {
		t.Errorf("Advance on a host-clock region: %v", err)
	}
	host.Close()

	// Close: idempotent; the breaker keeps working; the region is refused afterwards.
	if err := region.Advance(-time.Second); err == nil {
		t.Error("a negative Advance is refused")
	}
	if err := region.Close(); err != nil {
		t.Fatal(err)
	}
	if err := region.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	if err := region.Advance(time.Second); !errors.Is(err, ErrClosed) {
		t.Errorf("Advance after Close: %v, want ErrClosed", err)
	}
	if _, err := New(regionConfig(region, "payments", 5, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("New with a closed region: %v, want ErrClosed", err)
	}
	if err := b.Execute(func() error { return nil }); err != nil {
		t.Errorf("the breaker after its region's Close: %v", err)
	}
	if counts, ok := b.ProcessCounts(); !ok || counts.Admitted != 1 || counts.Successes != 1 {
		t.Errorf("ProcessCounts: %+v, %v", counts, ok)
	}
	b.Close()
	if _, ok := b.ProcessCounts(); ok {
		t.Error("ProcessCounts after Close: ok")
	}
}

func writeFile(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, make([]byte, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// docs/go.md ("Host-shared breakers") shows example_region_test.go unchanged.
func TestDocsShowTheRegionExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/go.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("example_region_test.go")
	if err != nil {
		t.Fatal(err)
	}
	marker := "<!-- example: bindings-go/example_region_test.go -->\n```go\n"
	i := strings.Index(string(doc), marker)
	if i < 0 || !strings.HasPrefix(string(doc[i+len(marker):]), string(example)+"```") {
		t.Fatal("docs/go.md does not show example_region_test.go unchanged: copy the file into its code block")
	}
}
