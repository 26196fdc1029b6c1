package circuit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// wallOf is a step's wall_unix_ms as a time.Time.
func wallOf(raw json.RawMessage) time.Time {
	var v float64
	_ = json.Unmarshal(raw, &v)
	return time.Unix(0, int64(math.Round(v*1e6)))
}

func golden(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("../tests/conformance", name))
}

// stateStep runs the observability and state ops (10_observability.json, 11_state.json); `import`
// replaces *b with the breaker that took the document.
func stateStep(t *testing.T, s map[string]json.RawMessage, b **Breaker, v vector, clock *ManualClock, fam *familyRun,
	listen func(*Breaker) error) (bool, error) {
	switch str(s["op"]) {
	case "transitions":
		m, err := (*b).Metrics()
		if err != nil {
			return true, err
		}
		var want []TransitionCount
		var raw []struct {
			From, To, Reason string
			Count            uint64
		}
		_ = json.Unmarshal(s["expect"], &raw)
		for _, w := range raw {
			want = append(want, TransitionCount{State(w.From), State(w.To), w.Reason, w.Count})
		}
		key := func(c TransitionCount) string { return fmt.Sprintf("%s>%s>%s>%d", c.From, c.To, c.Reason, c.Count) }
		got := m.Transitions
		slices.SortFunc(got, func(a, b TransitionCount) int { return strings.Compare(key(a), key(b)) })
		slices.SortFunc(want, func(a, b TransitionCount) int { return strings.Compare(key(a), key(b)) })
		if !reflect.DeepEqual(got, want) {
			return true, fmt.Errorf("transitions %+v, expected %+v", got, want)
		}
	case "prometheus":
		text, err := golden(str(s["expect_file"]))
		if err != nil {
			return true, err
		}
		want := parseExposition(string(text))
		got, err := pointsExposition(*b, fam)
		if err != nil {
			return true, err
		}
		if !reflect.DeepEqual(got, want) {
			return true, fmt.Errorf("the points differ from %s:\ngot  %v\nwant %v", str(s["expect_file"]), got, want)
		}
	case "export":
		doc, err := (*b).ExportState(wallOf(s["wall_unix_ms"]))
		if err != nil {
			return true, err
		}
		text, err := golden(str(s["expect_file"]))
		if err != nil {
			return true, err
		}
		var got, want any
		if err := json.Unmarshal(doc, &got); err != nil {
			return true, fmt.Errorf("export is not JSON: %v", err)
		}
		_ = json.Unmarshal(text, &want)
		if !reflect.DeepEqual(got, want) {
			return true, fmt.Errorf("export differs from %s: %s", str(s["expect_file"]), doc)
		}
		marshalled, err := json.Marshal(*b) // MarshalJSON: the same document, exported now
		if err != nil || !bytes.Contains(marshalled, []byte(`"format":"circuit-breaker-state"`)) {
			return true, fmt.Errorf("json.Marshal(breaker) = %s, %v", marshalled, err)
		}
	case "import":
		var doc []byte
		if raw, ok := s["file"]; ok {
			text, err := golden(str(raw))
			if err != nil {
				return true, err
			}
			doc = text
		} else {
			doc = []byte(str(s["text"]))
		}
		if raw, ok := s["replace"]; ok {
			var pair []string
			_ = json.Unmarshal(raw, &pair)
			doc = bytes.ReplaceAll(doc, []byte(pair[0]), []byte(pair[1]))
		}
		rawField, expectError := s["expect_error_field"]
		before, err := (*b).Metrics()
		if err != nil {
			return true, err
		}
		if expectError && before.Admitted > 0 {
			// Go restores only in New (Config.State): a used breaker has no way to take a
			// document, so the vector's expectation (refused, breaker unchanged) holds by
			// construction. Check that the breaker is indeed as it was.
			t.Logf("import into a used breaker: the Go API restores only at New")
			after, _ := (*b).Metrics()
			if after.Generation != before.Generation || after.Admitted != before.Admitted {
				return true, fmt.Errorf("the used breaker changed")
			}
			return true, nil
		}
		config := buildConfig(t, v.Config, clock)
		config.State = doc
		config.StateAt = wallOf(s["wall_unix_ms"])
		fresh, err := New(config)
		if !expectError {
			if err != nil {
				return true, fmt.Errorf("refused: %v", err)
			}
			if err := listen(fresh); err != nil {
				return true, err
			}
			_ = (*b).Close()
			*b = fresh
			return true, nil
		}
		var se *StateError
		if !errors.As(err, &se) || fresh != nil {
			return true, fmt.Errorf("expected a *StateError and no breaker, got %v, %v", fresh, err)
		}
		var field *string
		_ = json.Unmarshal(rawField, &field)
		if (field == nil && se.Field != "") || (field != nil && se.Field != *field) {
			return true, fmt.Errorf("refused naming %q: %v", se.Field, se)
		}
		if field != nil && !strings.Contains(se.Error(), "`"+*field+"`") {
			return true, fmt.Errorf("the message does not name `%s`: %v", *field, se)
		}
	default:
		return false, nil
	}
	return true, nil
}

// exposition is a text exposition reduced to what the vectors compare: each family's HELP and
// TYPE, and every sample as name{sorted labels} -> value.
type exposition struct {
	Help, Type map[string]string
	Samples    map[string]float64
}

// parseExposition reads the golden file (the canonical text format 0.0.4 written by the core).
func parseExposition(text string) exposition {
	e := exposition{map[string]string{}, map[string]string{}, map[string]float64{}}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			e.Help[name] = help
		case strings.HasPrefix(line, "# TYPE "):
			name, kind, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			e.Type[name] = kind
		default:
			at := strings.LastIndex(line, " ")
			value, _ := strconv.ParseFloat(line[at+1:], 64)
			e.Samples[line[:at]] = value
		}
	}
	return e
}

// sampleKey is name{label="value",...} with the labels sorted (values here need no escaping).
func sampleKey(family string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%q", k, labels[k])
	}
	return family + "{" + strings.Join(parts, ",") + "}"
}

// pointsExposition is what the binding's points give for the breaker and the family.
func pointsExposition(b *Breaker, fam *familyRun) (exposition, error) {
	e := exposition{map[string]string{}, map[string]string{}, map[string]float64{}}
	for _, f := range MetricFamilies() {
		e.Help[f.Name] = f.Help
		e.Type[f.Name] = map[bool]string{true: "counter", false: "gauge"}[f.Counter]
	}
	add := func(name string, points []MetricPoint) {
		for _, p := range points {
			labels := map[string]string{"name": name}
			if p.Key != "" {
				labels["key"] = p.Key
			}
			for i, l := range p.Family.Labels {
				labels[l] = p.LabelValues[i]
			}
			e.Samples[sampleKey(p.Family.Name, labels)] = p.Value
		}
	}
	points, err := b.MetricPoints()
	if err != nil {
		return e, err
	}
	add(b.Name(), points)
	if fam != nil {
		members, err := fam.f.MetricPoints()
		if err != nil {
			return e, err
		}
		add(fam.f.Name(), members)
	}
	return e, nil
}
