package circuit

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeQuickStart runs the README's Go quick start as a program of its own, in a module
// that uses this package through a replace directive, exactly as a user would.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	match := regexp.MustCompile("(?s)## Quick start \\(Go\\)\n\n```go\n(.*?)```").FindSubmatch(readme)
	if match == nil {
		t.Fatal("README has no Go quick start")
	}
	here, _ := filepath.Abs(".")
	dir := t.TempDir()
	goMod := "module readme\n\ngo 1.22\n\nrequire github.com/circuit-rs/circuit/bindings-go v0.0.0\n\n" +
		"replace github.com/circuit-rs/circuit/bindings-go => " + here + "\n"
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), match[1], 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "closed") {
		t.Fatalf("unexpected output %q", out)
	}
}
