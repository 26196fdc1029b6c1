package circuitgrpc_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// exampleCode is ExampleUnaryClientInterceptor's code between doc:begin and doc:end, one tab
// of indentation less.
func exampleCode(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)// doc:begin\n(.*?)\n\t// doc:end`).FindSubmatch(src)
	if m == nil {
		t.Fatal("example_test.go has no doc:begin/doc:end region")
	}
	return strings.ReplaceAll("\n"+string(m[1]), "\n\t", "\n")[1:]
}

// TestGuideExampleIsTheExecutedExample: the guide's code is ExampleUnaryClientInterceptor's,
// which `go test` runs.
func TestGuideExampleIsTheExecutedExample(t *testing.T) {
	guide, err := os.ReadFile("../../docs/integrations/go-grpc.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(guide)
	if m == nil {
		t.Fatal("docs/integrations/go-grpc.md has no go block")
	}
	if got, want := strings.TrimSpace(string(m[1])), strings.TrimSpace(exampleCode(t)); got != want {
		t.Fatalf("the guide's example differs from ExampleUnaryClientInterceptor's doc region:\n--- guide\n%s\n--- example\n%s", got, want)
	}
}
