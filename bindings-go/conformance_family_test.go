package circuit

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"
)

// The conformance ops of 09_family.json (tests/conformance/README.md) but family_allow (which
// shares allow's permits, in conformance_test.go), through the public API. No *Breaker of a
// member outlives a step (it would pin the member).

// familyPermitFlag marks a permit from Family.Allow (CIRCUIT_PERMIT_MEMBER).
const familyPermitFlag = 4

type familyRun struct {
	f      *Family
	clock  *ManualClock
	mu     sync.Mutex
	events []FamilyTransition
}

func startFamily(c Config, clock *ManualClock, maxKeys int, idleTTL time.Duration) (*familyRun, error) {
	f, err := NewFamily(c, FamilyOptions{MaxKeys: maxKeys, IdleTTL: idleTTL})
	if err != nil {
		return nil, err
	}
	run := &familyRun{f: f, clock: clock}
	if _, err := f.OnStateChange(func(t FamilyTransition) {
		run.mu.Lock()
		run.events = append(run.events, t)
		run.mu.Unlock()
	}); err != nil {
		_ = f.Close()
		return nil, err
	}
	return run, nil
}

// step runs s if it is one of the family ops handled here.
func (run *familyRun) step(s map[string]json.RawMessage) (handled bool, err error) {
	op := str(s["op"])
	switch op {
	case "family_call", "family_get", "family_contains", "family_len", "family_keys", "family_metrics", "family_events":
	default:
		return false, nil
	}
	if run == nil {
		return true, fmt.Errorf("%s in a vector without a family", op)
	}
	key := str(s["key"])
	switch op {
	case "family_call":
		repeat := 1
		if raw, ok := s["repeat"]; ok {
			_ = json.Unmarshal(raw, &repeat)
		}
		m, err := run.f.Get(key)
		if err != nil {
			return true, err
		}
		defer m.Close()
		for r := 0; r < repeat; r++ {
			p, err := m.Allow()
			if err != nil {
				return true, fmt.Errorf("call rejected: %v", err)
			}
			if raw, ok := s["duration_ms"]; ok {
				run.clock.Advance(ms(raw))
			}
			if counted, err := m.Record(p, Outcome(str(s["outcome"]))); err != nil || !counted {
				return true, fmt.Errorf("call recorded as counted=%v err=%v", counted, err)
			}
		}
	case "family_get":
		m, err := run.f.Get(key)
		if err != nil {
			return true, err
		}
		name, state := m.Name(), m.State()
		_ = m.Close()
		if raw, ok := s["expect_name"]; ok && name != str(raw) {
			return true, fmt.Errorf("member %s is named %q", key, name)
		}
		if raw, ok := s["expect_state"]; ok && string(state) != str(raw) {
			return true, fmt.Errorf("member %s is %s", key, state)
		}
	case "family_contains":
		if got := run.f.Contains(key); string(s["expect"]) != fmt.Sprint(got) {
			return true, fmt.Errorf("contains %s is %v", key, got)
		}
	case "family_len":
		if got := run.f.Len(); string(s["expect"]) != fmt.Sprint(got) {
			return true, fmt.Errorf("len is %d", got)
		}
	case "family_keys":
		var want []string
		_ = json.Unmarshal(s["expect"], &want)
		got := run.f.Keys()
		slices.Sort(got)
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			return true, fmt.Errorf("keys are %q", got)
		}
	case "family_metrics":
		var want map[string]uint64
		_ = json.Unmarshal(s["expect"], &want)
		m := run.f.Metrics()
		got := map[string]uint64{"evicted": m.Evicted, "overflowed": m.Overflowed, "members": uint64(m.Members)}
		for field, value := range want {
			actual, known := got[field]
			if !known || actual != value {
				return true, fmt.Errorf("family metrics.%s is %d (known %v)", field, actual, known)
			}
		}
	case "family_events":
		var want []struct {
			Key              *string
			From, To, Reason string
			AtMs             float64 `json:"at_ms"`
		}
		_ = json.Unmarshal(s["expect"], &want)
		run.mu.Lock()
		got := run.events
		run.events = nil
		run.mu.Unlock()
		match := len(got) == len(want)
		for k := 0; match && k < len(want); k++ {
			keyOK := (want[k].Key == nil && got[k].Overflow) || (want[k].Key != nil && !got[k].Overflow && *want[k].Key == got[k].Key)
			match = keyOK && string(got[k].From) == want[k].From && string(got[k].To) == want[k].To &&
				got[k].Reason == want[k].Reason && near(want[k].AtMs, float64(got[k].At)/1e6)
		}
		if !match {
			return true, fmt.Errorf("family events %+v, expected %+v", got, want)
		}
	}
	return true, nil
}
