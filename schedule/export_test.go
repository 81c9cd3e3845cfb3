package schedule

import "time"

// SetDue moves the next due time of the job named name to due, as if the
// scheduler had slept through the time in between (a suspended process, a
// clock jump), and wakes the scheduler. It reports whether the job exists.
func SetDue(s *Scheduler, name string, due time.Time) bool {
	s.mu.Lock()
	j, ok := s.jobs[name]
	if ok {
		j.due, j.fireAt = due, due
	}
	s.mu.Unlock()
	s.poke()
	return ok
}
