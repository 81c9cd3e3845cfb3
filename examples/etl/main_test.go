package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestETL runs the whole program in virtual time and checks the summary's
// claims from the same run: every record is accounted for, the API's limit
// held, and the warehouse outage cost retries, not records.
func TestETL(t *testing.T) {
	var out bytes.Buffer
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, run(context.Background(), &out, io.Discard, config{records: 2000, seed: 1}))
	})
	s := out.String()
	t.Log("\n" + s)
	read, dropped, written := num(t, s, "read"), num(t, s, "dropped as invalid"), num(t, s, "written")
	unenriched, unwritten := num(t, s, "not enriched (dead letter)"), num(t, s, "unwritten (dead letter)")
	assert.Equal(t, 2000, read)
	assert.Equal(t, read, dropped+written+unenriched+unwritten, "every record is written, dropped or dead-lettered")
	assert.Positive(t, dropped, "some records are invalid")
	assert.Less(t, unenriched*100, read, "retries enrich all but a few records")
	assert.Zero(t, unwritten, "the retry outlasts the warehouse outage: no batch is lost")
	assert.LessOrEqual(t, num(t, s, "API rate"), apiRate+apiBurst, "the enrichment stage keeps to the API's limit")
	m := regexp.MustCompile(`\((\d+) write attempts while the warehouse was down\)`).FindStringSubmatch(s)
	require.Len(t, m, 2)
	failedWrites, _ := strconv.Atoi(m[1])
	assert.Positive(t, failedWrites, "the outage is seen and retried")
	elapsed := regexp.MustCompile(`moved \d+ records in ([\d.]+)s`).FindStringSubmatch(s)
	require.Len(t, elapsed, 2)
	secs, _ := strconv.ParseFloat(elapsed[1], 64)
	assert.Equal(t, int(secs), num(t, s, "checkpoints"), "the scheduled checkpoint ran once a second")
}

func TestETLBadFlags(t *testing.T) {
	assert.Error(t, run(context.Background(), io.Discard, io.Discard, config{records: 0}))
}

// num returns the first number after label in the summary.
func num(t *testing.T, s, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(label) + ` +(\d+)`).FindStringSubmatch(s)
	require.Len(t, m, 2, "line %q in the summary", label)
	n, _ := strconv.Atoi(m[1])
	return n
}
