package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/limit"
)

func TestDuration_text(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want config.Duration
		ok   bool
	}{
		{"250ms", config.Duration(250e6), true},
		{"1.5s", config.Duration(1.5e9), true},
		{"0s", 0, true},
		{"-1s", config.Duration(-1e9), true}, // parsed; Validate rejects it where it matters
		{"10", 0, false},
		{"", 0, false},
		{"soon", 0, false},
	} {
		var d config.Duration
		err := d.UnmarshalText([]byte(tc.in))
		if !tc.ok {
			assert.Error(t, err, "UnmarshalText(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "UnmarshalText(%q)", tc.in)
		assert.Equal(t, tc.want, d, "UnmarshalText(%q)", tc.in)
		text, _ := d.MarshalText()
		var again config.Duration
		require.NoError(t, again.UnmarshalText(text))
		assert.Equal(t, d, again, "a Duration survives MarshalText")
	}
}

func TestRate_text(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want limit.Rate
		ok   bool
	}{
		{"10/s", 10, true},
		{"0.5/s", 0.5, true},
		{"120/m", 2, true},
		{"3600/h", 1, true},
		{"3/250ms", 12, true},
		{"1/ms", 1000, true},
		{"1/2s", 0.5, true},
		{"0/s", 0, true},
		{"inf", limit.Inf, true},
		{"10", 0, false},
		{"10/", 0, false},
		{"-1/s", 0, false},
		{"NaN/s", 0, false},
		{"1/0s", 0, false},
		{"1/-1s", 0, false},
		{"x/s", 0, false},
	} {
		var r config.Rate
		err := r.UnmarshalText([]byte(tc.in))
		if !tc.ok {
			assert.Error(t, err, "UnmarshalText(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "UnmarshalText(%q)", tc.in)
		assert.InDelta(t, float64(tc.want), float64(r), 1e-9, "UnmarshalText(%q)", tc.in)
		text, _ := r.MarshalText()
		var again config.Rate
		require.NoError(t, again.UnmarshalText(text))
		assert.Equal(t, r, again, "a Rate survives MarshalText (%s)", text)
	}
}
