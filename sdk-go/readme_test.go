package timers_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The Go code of the README is the bodies of the examples, which the tests
// compile and run: this keeps the two from drifting apart.

var (
	exampleFunc = regexp.MustCompile(`(?ms)^func (Example\w*)\(\) \{\n(.*?)^\}\n`)
	goBlock     = regexp.MustCompile("(?ms)^```go\n(.*?)^```\n")
)

// exampleBodies maps each example of example_test.go to its body, out one
// tab and without its Output comment.
func exampleBodies(t *testing.T) map[string]string {
	t.Helper()
	source, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}

	bodies := map[string]string{}
	for _, match := range exampleFunc.FindAllStringSubmatch(string(source), -1) {
		body, _, _ := strings.Cut(match[2], "\t// Output:")
		lines := strings.Split(strings.TrimRight(body, "\n"), "\n")
		for i, line := range lines {
			lines[i] = strings.TrimPrefix(line, "\t")
		}

		bodies[match[1]] = strings.Join(lines, "\n")
	}

	return bodies
}

func TestReadmeShowsTheExamplesAsTheyRun(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}

	bodies := exampleBodies(t)
	if len(bodies) < 4 {
		t.Fatalf("found %d examples", len(bodies))
	}

	shown := map[string]bool{}
	for _, block := range goBlock.FindAllStringSubmatch(string(readme), -1) {
		code := strings.TrimRight(block[1], "\n")
		if strings.HasPrefix(code, "import ") {
			continue
		}

		found := false
		for name, body := range bodies {
			if code == body {
				shown[name], found = true, true
			}
		}

		if !found {
			t.Errorf("a Go block of the README is no example body:\n%s", code)
		}
	}

	for name := range bodies {
		if !shown[name] {
			t.Errorf("%s is not shown in the README", name)
		}
	}
}
