package circuit_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	circuit "github.com/circuit-rs/circuit/bindings-go"
)

// Breakers with the same name in one host region are one breaker for every process on the host.
// Here the second Breaker stands for another worker process opening the same path.
func ExampleOpenHostRegion() {
	dir, err := os.MkdirTemp("", "circuit-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "my-service.circuit") // typically /dev/shm/my-service.circuit

	region, err := circuit.OpenHostRegion(path, 64) // created (mode 0600) if missing
	if err != nil {
		log.Fatal(err)
	}
	defer region.Close() // breakers created in it keep working
	config := circuit.Config{Name: "payments", Region: region, FailureThreshold: circuit.Of(2)}
	mine, err := circuit.New(config)
	if err != nil {
		log.Fatal(err)
	}
	defer mine.Close()

	// Another process: its own region handle, the same path, the same name and options.
	theirRegion, err := circuit.OpenHostRegion(path, 64)
	if err != nil {
		log.Fatal(err)
	}
	defer theirRegion.Close()
	theirs, err := circuit.New(circuit.Config{Name: "payments", Region: theirRegion, FailureThreshold: circuit.Of(2)})
	if err != nil {
		log.Fatal(err)
	}
	defer theirs.Close()
	for range 2 {
		_ = theirs.Execute(func() error { return errors.New("payments is down") })
	}

	fmt.Println("mine:", mine.State())
	err = mine.Execute(func() error { return nil })
	fmt.Println("rejected:", errors.Is(err, circuit.ErrOpen))
	m, _ := mine.Metrics()           // region-wide totals
	own, _ := theirs.ProcessCounts() // what this Breaker object did itself
	fmt.Println("failures:", m.Failures, "of which theirs:", own.Failures)

	// The same name with other options is refused, naming each option that differs.
	_, err = circuit.New(circuit.Config{Name: "payments", Region: region, FailureThreshold: circuit.Of(3)})
	fmt.Println(errors.Is(err, circuit.ErrRegion))
	// Output:
	// mine: open
	// rejected: true
	// failures: 2 of which theirs: 2
	// true
}
