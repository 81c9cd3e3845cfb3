package policy

import "strconv"

// Outcome is how a policy counts one call: every result is a Success, a
// Failure or Ignored. Breakers, retries, hedges, fallbacks and metrics all
// consume the same outcome, computed by [Next.Classify].
type Outcome uint8

const (
	// Success is a call that did its job.
	Success Outcome = iota
	// Failure is a call that failed: it counts against breakers and is what
	// Retry retries and Fallback replaces. A timeout fired by [Timeout] is a
	// Failure.
	Failure
	// Ignored is a call that says nothing about the dependency's health: the
	// caller's own cancellation or deadline, or a rejection by an Ion policy
	// inside this one. It is not counted by breakers. Retry and Fallback act
	// on such a rejection (after its Retry-After), never on the caller's
	// cancellation.
	Ignored
)

// String returns "success", "failure" or "ignored".
func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Classifier decides the outcome of a call from its result and error, so that
// a result can be a Failure with a nil error (an HTTP 503) or an error can be
// a Success (a "not found" that is an answer, not an outage). Install one on
// a pipeline with [Pipeline.WithClassifier]; every Ion policy in the pipeline
// then uses it.
//
// A Classifier is not consulted for the caller's own cancellation, which is
// always [Ignored]. It must be safe for concurrent use and should be cheap:
// it runs once per call per policy that counts outcomes.
type Classifier[T any] func(v T, err error) Outcome
