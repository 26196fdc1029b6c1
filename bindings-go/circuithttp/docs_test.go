package circuithttp_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// exampleCode is ExampleNew's code between doc:begin and doc:end, one tab of indentation less.
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

// TestGuideExampleIsTheExecutedExample: the guide's code is ExampleNew's, which `go test` runs.
func TestGuideExampleIsTheExecutedExample(t *testing.T) {
	guide, err := os.ReadFile("../../docs/integrations/go-http.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(guide)
	if m == nil {
		t.Fatal("docs/integrations/go-http.md has no go block")
	}
	if got, want := strings.TrimSpace(string(m[1])), strings.TrimSpace(exampleCode(t)); got != want {
		t.Fatalf("the guide's example differs from ExampleNew's doc region:\n--- guide\n%s\n--- example\n%s", got, want)
	}
}

// TestReadmeSnippetIsPartOfTheExecutedExample: every code line of the README's Go snippet (between
// the http:go markers) is a line of ExampleNew's doc region, in order.
func TestReadmeSnippetIsPartOfTheExecutedExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- http:go -->\n```go\n(.*?)```.*?<!-- /http:go -->").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no Go snippet between the http:go markers")
	}
	example := strings.Split(exampleCode(t), "\n")
	next := 0
	for _, line := range strings.Split(strings.TrimSpace(string(m[1])), "\n") {
		for next < len(example) && example[next] != line {
			next++
		}
		if next == len(example) {
			t.Fatalf("README snippet line %q is not in ExampleNew (in order)", line)
		}
		next++
	}
}
