package jobs

import (
	"time"

	"github.com/go-co-op/gocron/v2"
)

// RunObserver hears what the jobs do, for the metrics: each run, with how
// long it took and its error, and how late each run started after the
// instant it was scheduled for. A run another replica took (its advisory
// lock held) is not this replica's and is heard by nobody here.
type RunObserver interface {
	JobRan(name string, took time.Duration, err error)
	JobLate(name string, lag time.Duration)
}

// observe tells the observer of a finished run.
func (r *Runner) observe(name string, start time.Time, err error) {
	if r.observer != nil {
		r.observer.JobRan(name, r.now().Sub(start), err)
	}
}

// lagMonitor hears gocron's scheduling delays. gocron reads the start on
// the wall clock; the lag is measured here on the jobs' clock, the one the
// scheduled instant is on, so a fake clock in tests gives true lags.
type lagMonitor struct {
	observer RunObserver
	now      func() time.Time
}

var _ gocron.SchedulerMonitor = (*lagMonitor)(nil)

// JobSchedulingDelay reports how late a run started.
func (m *lagMonitor) JobSchedulingDelay(job gocron.Job, scheduled, _ time.Time) {
	m.observer.JobLate(job.Name(), max(m.now().Sub(scheduled), 0))
}

// The scheduler's other events are not observed: runs are, by the task
// wrapper, which knows their errors.

func (*lagMonitor) SchedulerStarted()                          {}
func (*lagMonitor) SchedulerStopped()                          {}
func (*lagMonitor) SchedulerShutdown()                         {}
func (*lagMonitor) JobRegistered(gocron.Job)                   {}
func (*lagMonitor) JobUnregistered(gocron.Job)                 {}
func (*lagMonitor) JobStarted(gocron.Job)                      {}
func (*lagMonitor) JobRunning(gocron.Job)                      {}
func (*lagMonitor) JobFailed(gocron.Job, error)                {}
func (*lagMonitor) JobCompleted(gocron.Job)                    {}
func (*lagMonitor) JobExecutionTime(gocron.Job, time.Duration) {}
func (*lagMonitor) ConcurrencyLimitReached(string, gocron.Job) {}
