package interval_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"agentpresence/models/interval"
)

type span = interval.Span[int]

func TestMerge(t *testing.T) {
	cases := []struct {
		name  string
		given []span
		want  []span
	}{
		{"nothing", nil, []span{}},
		{"one", []span{{1, 3}}, []span{{1, 3}}},
		{"empty spans dropped", []span{{3, 3}, {5, 4}, {1, 2}}, []span{{1, 2}}},
		{"overlapping", []span{{1, 5}, {3, 8}}, []span{{1, 8}}},
		{"touching", []span{{1, 3}, {3, 5}}, []span{{1, 5}}},
		{"contained", []span{{1, 10}, {2, 3}}, []span{{1, 10}}},
		{"apart, unsorted", []span{{7, 9}, {1, 2}, {4, 5}}, []span{{1, 2}, {4, 5}, {7, 9}}},
		{"chain", []span{{5, 7}, {1, 3}, {2, 6}, {10, 11}}, []span{{1, 7}, {10, 11}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := interval.Merge(append([]span(nil), tc.given...))
			if len(got) != len(tc.want) || (len(got) > 0 && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("Merge(%v) = %v, want %v", tc.given, got, tc.want)
			}
		})
	}
}

// TestMergeMatchesCoverage compares Merge with a naive reading: the points
// covered, and a boundary wherever coverage starts or stops.
func TestMergeMatchesCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 2000 {
		n := rng.IntN(12)
		spans := make([]span, n)
		var covered [64]bool
		for i := range spans {
			a, b := rng.IntN(60), rng.IntN(60)
			spans[i] = span{a, b}
			for x := a; x < b; x++ {
				covered[x] = true
			}
		}
		var want []span
		for x := 0; x < len(covered); x++ {
			if covered[x] && (x == 0 || !covered[x-1]) {
				want = append(want, span{x, x + 1})
			} else if covered[x] {
				want[len(want)-1].End = x + 1
			}
		}
		got := interval.Merge(append([]span(nil), spans...))
		if fmt.Sprint(got) != fmt.Sprint(append([]span{}, want...)) {
			t.Fatalf("iteration %d: Merge(%v) = %v, want %v", iter, spans, got, want)
		}
	}
}

func TestMergeFuncTimes(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 25, h, 0, 0, 0, time.UTC) }
	got := interval.MergeFunc([]interval.Span[time.Time]{{at(9), at(11)}, {at(8), at(9)}, {at(12), at(12)}, {at(13), at(14)}}, time.Time.Compare)
	want := []interval.Span[time.Time]{{at(8), at(11)}, {at(13), at(14)}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestMergeDoesNotAllocate(t *testing.T) {
	spans := []span{{7, 9}, {1, 2}, {4, 5}, {2, 4}}
	buf := make([]span, len(spans))
	if n := testing.AllocsPerRun(100, func() {
		copy(buf, spans)
		interval.Merge(buf)
	}); n != 0 {
		t.Fatalf("Merge allocates %v times", n)
	}
}

func TestSubtract(t *testing.T) {
	cases := []struct {
		name         string
		spans, minus []span
		want         []span
	}{
		{"nothing taken", []span{{1, 3}, {5, 8}}, nil, []span{{1, 3}, {5, 8}}},
		{"nothing left", []span{{1, 3}}, []span{{0, 4}}, []span{}},
		{"a hole", []span{{1, 10}}, []span{{3, 5}}, []span{{1, 3}, {5, 10}}},
		{"both ends", []span{{1, 10}}, []span{{0, 2}, {9, 12}}, []span{{2, 9}}},
		{"one minus over two spans", []span{{1, 4}, {6, 9}}, []span{{3, 7}}, []span{{1, 3}, {7, 9}}},
		{"touching only", []span{{3, 5}}, []span{{1, 3}, {5, 7}}, []span{{3, 5}}},
		{"minus apart", []span{{5, 6}}, []span{{1, 2}, {8, 9}}, []span{{5, 6}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := interval.Subtract(tc.spans, tc.minus); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Subtract(%v, %v) = %v, want %v", tc.spans, tc.minus, got, tc.want)
			}
		})
	}
}

// TestSubtractMatchesCoverage compares Subtract with the points covered by
// the first list and not by the second.
func TestSubtractMatchesCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func() ([]span, [64]bool) {
		var covered [64]bool
		spans := make([]span, rng.IntN(8))
		for i := range spans {
			a, b := rng.IntN(60), rng.IntN(60)
			spans[i] = span{a, b}
			for x := a; x < b; x++ {
				covered[x] = true
			}
		}
		return interval.Merge(spans), covered
	}
	for iter := range 2000 {
		spans, in := random()
		minus, out := random()
		var want []span
		for x := range len(in) {
			if !in[x] || out[x] {
				continue
			}
			if n := len(want); n > 0 && want[n-1].End == x {
				want[n-1].End = x + 1
			} else {
				want = append(want, span{x, x + 1})
			}
		}
		if got := interval.Subtract(spans, minus); fmt.Sprint(got) != fmt.Sprint(append([]span{}, want...)) {
			t.Fatalf("iteration %d: Subtract(%v, %v) = %v, want %v", iter, spans, minus, got, want)
		}
	}
}

func ExampleMerge() {
	fmt.Println(interval.Merge([]interval.Span[int]{{9, 12}, {13, 17}, {12, 13}, {20, 20}}))
	// Output: [{9 17}]
}
