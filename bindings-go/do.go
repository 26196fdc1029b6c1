package circuit

import (
	"context"
	"errors"
)

// Do runs fn through b if the breaker admits the call and returns fn's result; a rejection
// returns the zero T and a *RejectedError (errors.Is(err, ErrOpen)) without calling fn.
//
// The outcome is recorded from fn's error, knowing the caller's context:
//   - nil is a success;
//   - context.Canceled while ctx itself is done (the caller gave up) is ignored;
//   - an error for which Config.IsIgnored, if set, returns true is ignored;
//   - anything else is a failure, context.DeadlineExceeded included (a deadline is how a hanging
//     dependency shows, so put it on the ctx passed to fn; see "Where the timeout goes" in
//     docs/go.md).
//
// A panic in fn (or in IsIgnored), or runtime.Goexit in fn, is recorded as a failure and
// continues: the permit is recorded on every path.
func Do[T any](ctx context.Context, b *Breaker, fn func(context.Context) (T, error)) (T, error) {
	permit, err := b.Allow()
	if err != nil {
		var zero T
		return zero, err
	}
	// Failure until fn and the classifier have both returned; the deferred record runs on every
	// way out (return, panic, runtime.Goexit).
	record := b.RecordFailure
	defer func() { _, _ = record(permit) }()
	value, err := fn(ctx)
	switch {
	case err == nil:
		record = b.RecordSuccess
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		record = b.RecordIgnored
	case b.isIgnored != nil && b.isIgnored(err):
		record = b.RecordIgnored
	}
	return value, err
}
