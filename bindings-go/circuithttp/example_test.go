package circuithttp_test

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	circuit "github.com/circuit-rs/circuit/bindings-go"
	"github.com/circuit-rs/circuit/bindings-go/circuithttp"
)

// The code between doc:begin and doc:end is the example of docs/integrations/go-http.md (a test
// checks they match): an origin answering 503 fails five times, then its breaker rejects.
func ExampleNew() {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer upstream.Close()
	url := upstream.URL + "/stock"

	// doc:begin
	family, err := circuit.NewFamily(circuit.Config{FailureThreshold: circuit.Of(5)}, circuit.FamilyOptions{MaxKeys: 1000})
	if err != nil {
		log.Fatal(err) // a *circuit.ConfigError names the option
	}
	defer family.Close()
	client := &http.Client{Transport: circuithttp.New(http.DefaultTransport, family, circuithttp.WithTimeout(5*time.Second))}

	for range 6 {
		resp, err := client.Get(url)
		if errors.Is(err, circuit.ErrOpen) { // this origin's breaker is open: no request was sent
			fmt.Println("rejected: serve the fallback")
			continue
		}
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// doc:end

	// Output:
	// 503 Service Unavailable
	// 503 Service Unavailable
	// 503 Service Unavailable
	// 503 Service Unavailable
	// 503 Service Unavailable
	// rejected: serve the fallback
}
