// Package bench is the measuring harness of the service: it seeds a data
// set straight through SQL, builds and starts the real binary, drives it
// over loopback with a bounded load generator and SSE subscribers, reads
// the processes' CPU and memory from /proc, and kills replicas and the
// database to check what survives. The commands under bench/cmd run it;
// nothing here is imported by the service.
package bench
