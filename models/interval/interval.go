// Package interval merges half-open intervals. It is the one merger of the
// code base: the schedule engine merges the windows of a day (minutes) and
// the instants they resolve to (Unix seconds), and the time-online report
// merges an agent's online periods across projects (time.Time), and takes
// the online ones out of the away ones (Subtract).
package interval

import (
	"cmp"
	"slices"
)

// Span is the half-open interval [Start, End). A span whose End is not
// after its Start is empty.
type Span[T any] struct {
	Start, End T
}

// Merge sorts spans by start and merges overlapping or touching ones in
// place, dropping empty ones, and returns the merged prefix of spans: no two
// of its spans overlap or touch, and they are sorted. It does not allocate.
func Merge[T cmp.Ordered](spans []Span[T]) []Span[T] {
	return MergeFunc(spans, cmp.Compare[T])
}

// MergeFunc is Merge for a type ordered by compare (as cmp.Compare or
// time.Time.Compare: negative when a is before b, zero when equal,
// positive when after).
func MergeFunc[T any](spans []Span[T], compare func(a, b T) int) []Span[T] {
	// pdqsort sorts short inputs by insertion and detects sorted runs, so
	// the schedule's few, nearly sorted windows cost little.
	slices.SortFunc(spans, func(a, b Span[T]) int { return compare(a.Start, b.Start) })
	out := spans[:0]
	for _, s := range spans {
		if compare(s.Start, s.End) >= 0 {
			continue
		}
		if n := len(out); n > 0 && compare(s.Start, out[n-1].End) <= 0 {
			if compare(s.End, out[n-1].End) > 0 {
				out[n-1].End = s.End
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// Subtract returns the parts of spans that no span of minus covers. Both
// must be merged (as Merge returns them); so is the result, which is
// appended to a new slice.
func Subtract[T cmp.Ordered](spans, minus []Span[T]) []Span[T] {
	return SubtractFunc(spans, minus, cmp.Compare[T])
}

// SubtractFunc is Subtract for a type ordered by compare (see MergeFunc).
func SubtractFunc[T any](spans, minus []Span[T], compare func(a, b T) int) []Span[T] {
	out := []Span[T]{}
	j := 0
	for _, s := range spans {
		start := s.Start
		// Spans of minus that end before this one starts cut nothing, here
		// or later (both lists are sorted).
		for j < len(minus) && compare(minus[j].End, start) <= 0 {
			j++
		}
		for k := j; k < len(minus) && compare(minus[k].Start, s.End) < 0; k++ {
			if compare(minus[k].Start, start) > 0 {
				out = append(out, Span[T]{Start: start, End: minus[k].Start})
			}
			if compare(minus[k].End, start) > 0 {
				start = minus[k].End
			}
		}
		if compare(start, s.End) < 0 {
			out = append(out, Span[T]{Start: start, End: s.End})
		}
	}
	return out
}
