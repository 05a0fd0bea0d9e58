package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Profiler takes profiles of a process through its pprof listener (the
// app's PPROF_ADDR) and keeps them in Dir.
type Profiler struct {
	// Base is the listener's URL, e.g. http://127.0.0.1:6060.
	Base string
	Dir  string
}

// Take starts, after delay, a CPU profile and an allocation profile (the
// allocations made during the window, not since the start) of seconds, in
// the background, and returns a function that waits for both and saves
// them as <name>.cpu.<slice>.pb.gz and <name>.allocs.<slice>.pb.gz in Dir.
func (p *Profiler) Take(ctx context.Context, name string, slice int, delay time.Duration, seconds int) (wait func() error) {
	seconds = max(seconds, 1)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, kind := range []string{"cpu", "allocs"} {
		path := "/debug/pprof/profile"
		if kind == "allocs" {
			path = "/debug/pprof/allocs"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			errs[i] = p.fetch(ctx, fmt.Sprintf("%s%s?seconds=%d", p.Base, path, seconds),
				filepath.Join(p.Dir, fmt.Sprintf("%s.%s.%d.pb.gz", name, kind, slice)), time.Duration(seconds+30)*time.Second)
		}()
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}

func (p *Profiler) fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("profile %s: HTTP %d %s", url, resp.StatusCode, body)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("profile %s: %w", url, err)
	}
	return f.Close()
}

// Tops writes <name>.top.txt in dir beside the profiles <name>.cpu.*.pb.gz
// and <name>.allocs.*.pb.gz (one per slice; go tool pprof merges them):
// the CPU profile's top entries by flat and by cumulative time, and the
// allocations' by flat bytes and by cumulative bytes.
func Tops(ctx context.Context, dir, name string, n int) (string, error) {
	cpu, _ := filepath.Glob(filepath.Join(dir, name+".cpu.*.pb.gz"))
	allocs, _ := filepath.Glob(filepath.Join(dir, name+".allocs.*.pb.gz"))
	if len(cpu) == 0 {
		return "", fmt.Errorf("tops: no CPU profile %s.cpu.*.pb.gz in %s", name, dir)
	}
	var sb strings.Builder
	for _, part := range []struct {
		title string
		files []string
		args  []string
	}{
		{"CPU, flat", cpu, nil},
		{"CPU, cumulative", cpu, []string{"-cum"}},
		{"allocated bytes, flat", allocs, []string{"-sample_index=alloc_space"}},
		{"allocated bytes, cumulative", allocs, []string{"-sample_index=alloc_space", "-cum"}},
	} {
		if len(part.files) == 0 {
			continue
		}
		args := append([]string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}, part.args...)
		out, err := exec.CommandContext(ctx, "go", append(args, part.files...)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go tool pprof: %w\n%s", err, out)
		}
		fmt.Fprintf(&sb, "## %s (%d profiles: %s)\n\n%s\n", part.title, len(part.files), name, out)
	}
	path := filepath.Join(dir, name+".top.txt")
	return path, os.WriteFile(path, []byte(sb.String()), 0o644)
}
