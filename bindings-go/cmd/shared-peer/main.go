// Command shared-peer is the Go peer of tests/shared/run: one breaker of a manual-clock host
// region, driven by the command protocol described in tests/shared/driver.py (one command a line
// on stdin, one JSON line on stdout per command).
//
//	cd bindings-go && GOTOOLCHAIN=local GOFLAGS=-mod=mod go build -o ../target/shared/peer-go ./cmd/shared-peer
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

const capacity = 16

type reply map[string]any

type event struct {
	From       string  `json:"from"`
	To         string  `json:"to"`
	Reason     string  `json:"reason"`
	Generation uint64  `json:"generation"`
	AtMs       float64 `json:"at_ms"`
	Remote     bool    `json:"remote"`
}

type peer struct {
	region  *circuit.HostRegion
	breaker *circuit.Breaker
	mu      sync.Mutex
	events  []event
}

func errorReply(what string, err error) reply {
	r := reply{"ok": false, "what": what, "error": err.Error(), "is_err_region": errors.Is(err, circuit.ErrRegion)}
	var ce *circuit.ConfigError
	if errors.As(err, &ce) {
		r["type"] = "ConfigError"
	}
	return r
}

func (p *peer) metricsFields() reply {
	m, err := p.breaker.Metrics()
	if err != nil {
		return reply{"error": err.Error()}
	}
	return reply{
		"state":                string(m.State),
		"generation":           m.Generation,
		"consecutive_failures": m.ConsecutiveFailures,
		"admitted":             m.Admitted,
		"failures":             m.Failures,
		"successes":            m.Successes,
		"rejected":             m.Rejected,
	}
}

func (p *peer) attach(path string, failureThreshold int) reply {
	region, err := circuit.OpenManualHostRegion(path, capacity)
	if err != nil {
		return errorReply("OpenManualHostRegion", err)
	}
	b, err := circuit.New(circuit.Config{
		Name:             "shared",
		Region:           region,
		FailureThreshold: circuit.Of(failureThreshold),
		ResetTimeout:     circuit.Of(10 * time.Second),
		HalfOpenMaxCalls: circuit.Of(1),
		SuccessThreshold: circuit.Of(1),
	})
	if err != nil {
		_ = region.Close()
		return errorReply("New", err)
	}
	if _, err := b.OnStateChange(func(t circuit.Transition) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.events = append(p.events, event{
			From: string(t.From), To: string(t.To), Reason: t.Reason, Generation: t.Generation,
			AtMs: float64(t.At) / float64(time.Millisecond), Remote: t.Remote,
		})
	}); err != nil {
		return errorReply("OnStateChange", err)
	}
	p.region, p.breaker = region, b
	return reply{"ok": true, "shared": true}
}

func (p *peer) call(outcome string) reply {
	permit, err := p.breaker.Allow()
	if err != nil {
		var rejected *circuit.RejectedError
		if errors.As(err, &rejected) {
			return reply{"ok": true, "admitted": false, "reason": rejected.Reason, "metrics": p.metricsFields()}
		}
		return errorReply("Allow", err)
	}
	probe := permit.IsProbe()
	var counted bool
	switch outcome {
	case "failure":
		counted, err = p.breaker.RecordFailure(permit)
	case "success":
		counted, err = p.breaker.RecordSuccess(permit)
	default:
		counted, err = p.breaker.RecordIgnored(permit)
	}
	if err != nil {
		return errorReply("Record", err)
	}
	return reply{"ok": true, "admitted": true, "probe": probe, "counted": counted, "metrics": p.metricsFields()}
}

func (p *peer) handle(words []string) reply {
	command, args := words[0], words[1:]
	switch command {
	case "attach":
		if p.breaker != nil {
			return reply{"ok": false, "error": "already attached"}
		}
		if len(args) < 1 {
			return reply{"ok": false, "error": "attach needs a path"}
		}
		threshold := 4
		if len(args) > 1 {
			n, err := strconv.Atoi(args[1])
			if err != nil {
				return reply{"ok": false, "error": err.Error()}
			}
			threshold = n
		}
		return p.attach(args[0], threshold)
	case "advance":
		if p.region == nil {
			return reply{"ok": false, "error": "not attached"}
		}
		ms, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil {
			return reply{"ok": false, "error": err.Error()}
		}
		if err := p.region.Advance(time.Duration(ms) * time.Millisecond); err != nil {
			return errorReply("Advance", err)
		}
		return reply{"ok": true}
	}
	if p.breaker == nil {
		return reply{"ok": false, "error": "not attached"}
	}
	switch command {
	case "fail":
		return p.call("failure")
	case "success":
		return p.call("success")
	case "allow":
		return p.call("ignored")
	case "state":
		state := p.breaker.State()
		m, err := p.breaker.Metrics()
		if err != nil {
			return errorReply("Metrics", err)
		}
		return reply{"ok": true, "state": string(state), "generation": m.Generation}
	case "metrics":
		return reply{"ok": true, "metrics": p.metricsFields()}
	case "events":
		p.mu.Lock()
		defer p.mu.Unlock()
		return reply{"ok": true, "events": append([]event{}, p.events...)}
	}
	return reply{"ok": false, "error": "unknown command " + command}
}

func main() {
	p := &peer{}
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		words := strings.Fields(in.Text())
		if len(words) == 0 {
			continue
		}
		if err := out.Encode(p.handle(words)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if p.breaker != nil {
		_ = p.breaker.Close()
	}
}
