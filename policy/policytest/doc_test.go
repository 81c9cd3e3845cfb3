package policytest_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocMatchesUserTest keeps the package doc's complete test in step with
// the real one in user_test.go: the doc's code block must appear there
// verbatim.
func TestDocMatchesUserTest(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	src, err := os.ReadFile("user_test.go")
	require.NoError(t, err)

	var block []string
	in := false
	for line := range strings.Lines(string(doc)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "//\tfunc RetryBusy"):
			in = true
			block = append(block, strings.TrimPrefix(line, "//\t"))
		case in && strings.HasPrefix(line, "//\t"):
			block = append(block, strings.TrimPrefix(line, "//\t"))
		case in && line == "//":
			block = append(block, "")
		case in:
			in = false
		}
	}
	// Drop the trailing blank doc line that ends the block.
	for len(block) > 0 && block[len(block)-1] == "" {
		block = block[:len(block)-1]
	}
	require.Greater(t, len(block), 40, "the doc's code block was not found")
	assert.Contains(t, string(src), strings.Join(block, "\n")+"\n",
		"the package doc's test must match user_test.go verbatim")
}
