// Package circuitredis runs the store side of circuit's fleet breakers (docs/fleet.md) over a
// go-redis v9 client: one goroutine syncs every fleet breaker attached to it (EVALSHA, EVAL on
// NOSCRIPT, a response timeout of sync_interval, one sync in flight per breaker). No store I/O
// happens in Allow or Record.
//
//	rf, _ := circuitredis.New(redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"}), circuitredis.Options{})
//	defer rf.Close()
//	fleet, _ := rf.Attach("payments", circuit.FleetOptions{})
//	b, _ := circuit.New(circuit.Config{Name: "payments", Fleet: fleet})
//
// A family gets a fleet breaker per member from a fleet set:
//
//	set, _ := rf.AttachSet(circuit.FleetOptions{}, 0)
//	hosts, _ := circuit.NewFamily(circuit.Config{Name: "hosts", FleetSet: set}, circuit.FamilyOptions{})
package circuitredis

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/redis/go-redis/v9"
)

// Options of a RedisFleet.
type Options struct {
	// PollEvery is how often the sync goroutine polls its fleets (default 5 ms; a poll is cheap).
	PollEvery time.Duration
	// OnEvent is called on the sync goroutine for every fleet event, with the breaker's name.
	OnEvent func(name string, event circuit.FleetEvent)
}

// RedisFleet owns one sync goroutine for every fleet breaker attached to it.
type RedisFleet struct {
	client redis.UniversalClient
	opts   Options
	mu     sync.Mutex
	fleets []*circuit.Fleet
	sets   []*circuit.FleetSet
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// New starts the sync goroutine over client.
func New(client redis.UniversalClient, opts Options) (*RedisFleet, error) {
	if client == nil {
		return nil, errors.New("circuitredis: nil client")
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = 5 * time.Millisecond
	}
	r := &RedisFleet{client: client, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r, nil
}

// Attach makes the fleet breaker name and syncs it; set the result as circuit.Config.Fleet.
func (r *RedisFleet) Attach(name string, opts circuit.FleetOptions) (*circuit.Fleet, error) {
	f, err := circuit.NewFleet(name, opts)
	if err != nil {
		return nil, err
	}
	if r.opts.OnEvent != nil {
		hook := r.opts.OnEvent
		f.OnEvent(func(e circuit.FleetEvent) { hook(name, e) })
	}
	r.mu.Lock()
	r.fleets = append(r.fleets, f)
	r.mu.Unlock()
	return f, nil
}

// AttachSet makes a fleet set (circuit.NewFleetSet: one fleet breaker per name, made on demand,
// idle ones forgotten after idleTTL, 0: 10 minutes) and syncs every fleet of it; set the result
// as circuit.Config.FleetSet of a family (a fleet per member) or of breakers.
func (r *RedisFleet) AttachSet(opts circuit.FleetOptions, idleTTL time.Duration) (*circuit.FleetSet, error) {
	set, err := circuit.NewFleetSet(opts, idleTTL)
	if err != nil {
		return nil, err
	}
	if r.opts.OnEvent != nil {
		set.OnEvent(r.opts.OnEvent)
	}
	r.mu.Lock()
	r.sets = append(r.sets, set)
	r.mu.Unlock()
	return set, nil
}

// Close stops the sync goroutine and frees the attached fleets and fleet sets (idempotent).
// Close the breakers and families first.
func (r *RedisFleet) Close() error {
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		r.mu.Lock()
		for _, f := range r.fleets {
			f.Close()
		}
		for _, set := range r.sets {
			set.Close()
		}
		r.fleets, r.sets = nil, nil
		r.mu.Unlock()
	})
	return nil
}

func (r *RedisFleet) run() {
	defer close(r.done)
	ticker := time.NewTicker(r.opts.PollEvery)
	defer ticker.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-ticker.C:
		}
		r.mu.Lock()
		fleets := append([]*circuit.Fleet(nil), r.fleets...)
		sets := append([]*circuit.FleetSet(nil), r.sets...)
		r.mu.Unlock()
		for _, set := range sets {
			fleets = append(fleets, set.Fleets()...)
		}
		for _, f := range fleets {
			r.sync(f)
		}
	}
}

// sync runs one round trip for f if one is due.
func (r *RedisFleet) sync(f *circuit.Fleet) {
	req, ok := f.Poll()
	if !ok {
		return
	}
	timeout := f.SyncInterval()
	if timeout < 50*time.Millisecond {
		timeout = 50 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := make([]any, len(req.Args))
	for i, a := range req.Args {
		args[i] = a
	}
	keys := []string{req.Key}
	// go-redis ignores the context's deadline on the socket unless the client was made with
	// ContextTimeoutEnabled (its ReadTimeout, 3 s by default, applies instead): run the round
	// trip on its own goroutine so the response timeout holds whatever the client's options,
	// and a stopped server never holds up the sync goroutine (nor the other fleets on it).
	type result struct {
		res any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := r.client.EvalSha(ctx, circuit.FleetScriptSHA1, keys, args...).Result()
		if err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
			res, err = r.client.Eval(ctx, circuit.FleetScript, keys, args...).Result()
		}
		ch <- result{res, err}
	}()
	var res any
	var err error
	select {
	case out := <-ch:
		res, err = out.res, out.err
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		_ = f.Fail(req, err.Error())
		return
	}
	items, ok := res.([]any)
	if !ok {
		_ = f.Fail(req, "unexpected reply")
		return
	}
	_ = f.Complete(req, items)
}
