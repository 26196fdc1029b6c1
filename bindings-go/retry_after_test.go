package circuit

import (
	"errors"
	"testing"
	"time"
)

func TestRecordFailureRetryAfterLengthensTheOpenDurationItStarts(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(2), ResetTimeout: Of(2 * time.Second), Clock: clock})
	p, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	if counted, err := b.RecordFailureRetryAfter(p, time.Minute); !counted || err != nil {
		t.Fatalf("first failure: %v %v", counted, err)
	}
	if _, err := b.RecordFailureRetryAfter(p, time.Minute); !errors.Is(err, ErrAlreadyRecorded) {
		t.Fatalf("second record of one permit: %v", err)
	}
	p, _ = b.Allow()
	if counted, err := b.RecordFailureRetryAfter(p, time.Minute); !counted || err != nil {
		t.Fatalf("tripping failure: %v %v", counted, err)
	}
	_, err = b.Allow()
	var re *RejectedError
	if !errors.As(err, &re) || re.RetryAfter == nil || *re.RetryAfter != time.Minute {
		t.Fatalf("want open for the dependency's minute, got %v", err)
	}
}

func TestRecordFailureRetryAfterIsCappedAndNeverShortens(t *testing.T) {
	clock := manualClock(t)
	b := newBreaker(t, Config{FailureThreshold: Of(1), ResetTimeout: Of(2 * time.Second), MaxResetTimeout: Of(30 * time.Second), Clock: clock})
	p, _ := b.Allow()
	if _, err := b.RecordFailureRetryAfter(p, time.Hour); err != nil {
		t.Fatal(err)
	}
	_, err := b.Allow()
	var re *RejectedError
	if !errors.As(err, &re) || re.RetryAfter == nil || *re.RetryAfter != 30*time.Second {
		t.Fatalf("want capped at MaxResetTimeout, got %v", err)
	}
	b.Reset()
	p, _ = b.Allow()
	if _, err := b.RecordFailureRetryAfter(p, -time.Second); err != nil {
		t.Fatal(err)
	}
	_, err = b.Allow()
	if !errors.As(err, &re) || re.RetryAfter == nil || *re.RetryAfter != 2*time.Second {
		t.Fatalf("a negative retry time is an ordinary failure, got %v", err)
	}
}
