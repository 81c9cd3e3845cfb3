package reject_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/internal/reject"
)

func TestNew(t *testing.T) {
	errFull := reject.New("sem: full")
	assert.EqualError(t, errFull, "sem: full")
	assert.ErrorIs(t, errFull, ion.ErrRejected)
	assert.ErrorIs(t, fmt.Errorf("wrapped: %w", errFull), errFull)
	assert.NotErrorIs(t, errFull, ion.ErrInvalidConfig)
	assert.NotErrorIs(t, errFull, reject.New("sem: full"), "each sentinel is its own value")
	assert.False(t, errors.Is(errors.New("x"), errFull))
}
